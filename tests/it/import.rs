//! `dlrepo import` as a user runs it: the real binary on real files, then pulls over HTTP.

use std::process::Command;

use crate::common::*;

backend_tests!(
    rows_without_a_pdf_are_rendered_from_the_doc_types_template,
    reports_every_bad_row_and_imports_the_rest,
    header_problems_stop_the_import_with_the_column_named,
    given_doc_ids_use_minted_reservations_and_are_never_issued_twice,
    concurrent_imports_never_share_a_doc_id,
    a_minted_doc_id_never_takes_one_a_later_row_gives,
    a_piped_csv_minting_never_takes_a_doc_id_a_later_row_gives,
    rows_giving_their_doc_ids_are_written_together_and_never_twice,
    a_file_giving_every_doc_id_leaves_a_minting_row_a_clear_refusal,
    a_csv_piped_in_is_read_whole,
    a_csv_redirected_to_stdin_finds_its_pdfs_beside_it,
    rows_with_a_pdf_each_are_served_their_own_bytes,
    certificates_rendered_ahead_name_the_doc_id_they_are_served_under,
);

fn dlrepo(ws: &Workspace) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.arg("--config")
        .arg(&ws.config_path)
        .env("RUST_LOG", "warn");
    c
}

/// Runs an import of `/dev/stdin`, a pipe the CSV is written into meanwhile.
fn through_stdin(import: &mut Command, csv: String) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = import
        .arg("/dev/stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(csv.as_bytes()));
    let out = child.wait_with_output().expect("run");
    writer.join().expect("join").expect("write");
    out
}

fn aadhaar(base11: &str) -> String {
    format!("{base11}{}", dlrepo::aadhaar::verhoeff_digit(base11))
}

async fn reports_every_bad_row_and_imports_the_rest(b: Backend) {
    let ws = Workspace::new(b);
    let good_aadhaar = aadhaar("23412341234");
    let bad_aadhaar = format!(
        "23412341234{}",
        (dlrepo::aadhaar::verhoeff_digit("23412341234") + 1) % 10
    );
    std::fs::write(
        ws.path("cert.pdf"),
        b"%PDF-1.4\n% a department's own file\n%%EOF\n",
    )
    .expect("pdf");
    std::fs::write(ws.path("notes.txt"), b"not a pdf").expect("txt");
    let csv = format!(
        "RollNo,Year,holder_name,aadhaar,doc_name,issued_on,valid_to,pdf\n\
         1000001,2020,\"Rao, Asha\",{good_aadhaar},Mark Sheet,15/05/2020,,cert.pdf\n\
         1000002,2020,Bad Aadhaar,{bad_aadhaar},Mark Sheet,15/05/2020,,\n\
         1000003,2020,Bad Date,,Mark Sheet,31/02/2020,,\n\
         12x,2020,Bad Roll,,Mark Sheet,15/05/2020,,\n\
         1000005,2020,Too Few Fields\n\
         1000006,2020,Missing File,,Mark Sheet,15/05/2020,,missing.pdf\n\
         1000007,2020,Not A Pdf,,Mark Sheet,15/05/2020,,notes.txt\n\
         1000008,2020,No Name,,,15/05/2020,,\n\
         1000009,2020,Valid Until Before From,,Mark Sheet,15/05/2020,01/01/2019,\n\
         1000010,2021,Fine Without Pdf,,Mark Sheet,16/05/2021,,\n"
    );
    let file = ws.write("rows.csv", &csv);
    let out_path = ws.path("uris.csv");
    let out = dlrepo(&ws)
        .args(["import", "--doctype", "MARKS"])
        .arg(&file)
        .arg("--out")
        .arg(&out_path)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "rejections give exit code 2\n{stderr}"
    );
    assert!(stdout.contains("imported 2 row(s), rejected 8"), "{stdout}");
    for (line, reason) in [
        (3, "check digit"),
        (4, "issued_on '31/02/2020'"),
        (5, "RollNo"),
        (6, "fields"),
        (7, "cannot be read"),
        (8, "not a PDF"),
        (9, "doc_name is empty"),
        (10, "valid_to is before issued_on"),
    ] {
        let needle = format!("line {line}: ");
        let l = stderr
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no report for line {line}:\n{stderr}"));
        assert!(l.contains(reason), "line {line}: {l}");
    }
    assert!(
        !stderr.contains(&bad_aadhaar),
        "Aadhaar numbers never printed in full"
    );

    let uris = std::fs::read_to_string(&out_path).expect("out file");
    let lines: Vec<&str> = uris.lines().collect();
    assert_eq!(lines[0], "line,uri");
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("2,in.gov.test.board-MARKS-"));
    assert!(lines[2].starts_with("11,in.gov.test.board-MARKS-"));

    // What was imported is served; the department's own PDF byte for byte.
    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("RollNo", "1000001"), ("Year", "2020")])
        .await;
    assert_eq!(r.status(), "1");
    assert_eq!(r.detail("URI"), Some(&lines[1][2..]));
    assert_eq!(
        r.doc_bytes(),
        b"%PDF-1.4\n% a department's own file\n%%EOF\n"
    );
    let r = app
        .pull_uri(&[("RollNo", "1000010"), ("Year", "2021")])
        .await;
    assert_eq!(r.status(), "1");
    assert!(r.doc_bytes().starts_with(b"%PDF-"));
    for roll in ["1000002", "1000003", "1000006", "1000009"] {
        assert_eq!(
            app.pull_uri(&[("RollNo", roll), ("Year", "2020")])
                .await
                .status(),
            "0",
            "{roll}"
        );
    }
}

async fn header_problems_stop_the_import_with_the_column_named(b: Backend) {
    let ws = Workspace::new(b);
    for (csv, needle) in [
        (
            "RollNo,Year,doc_name,issued_on,colour\n",
            "unknown column 'colour'",
        ),
        ("RollNo,doc_name,issued_on\n", "missing column 'Year'"),
        ("RollNo,Year,Year,doc_name,issued_on\n", "appears twice"),
    ] {
        let file = ws.write("h.csv", csv);
        let out = dlrepo(&ws)
            .args(["import", "--doctype", "MARKS"])
            .arg(&file)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
    let out = dlrepo(&ws)
        .args(["import", "--doctype", "NOPE", "x.csv"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("doc type 'NOPE'"));
}

async fn given_doc_ids_use_minted_reservations_and_are_never_issued_twice(b: Backend) {
    let ws = Workspace::new(b);
    let minted = dlrepo(&ws)
        .args(["mint", "--doctype", "MARKS", "--count", "2"])
        .output()
        .expect("mint");
    assert!(minted.status.success());
    let uris: Vec<String> = String::from_utf8_lossy(&minted.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let id = uris[0].rsplit('-').next().expect("doc id").to_string();
    let csv = format!(
        "RollNo,Year,doc_name,issued_on,doc_id\n\
         2000001,2020,Mark Sheet,15/05/2020,{id}\n\
         2000002,2020,Mark Sheet,15/05/2020,{id}\n\
         2000003,2020,Mark Sheet,15/05/2020,MYOWN42\n\
         2000004,2020,Mark Sheet,15/05/2020,BAD-ID\n"
    );
    let file = ws.write("ids.csv", &csv);
    let out = dlrepo(&ws)
        .args(["import", "--doctype", "MARKS"])
        .arg(&file)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("line 3: doc_id {id} is already issued")),
        "{stderr}"
    );
    assert!(stderr.contains("line 5: DocId 'BAD-ID'"), "{stderr}");

    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("RollNo", "2000001"), ("Year", "2020")])
        .await;
    assert_eq!(r.detail("URI"), Some(uris[0].as_str()));
    let r = app
        .pull_uri(&[("RollNo", "2000003"), ("Year", "2020")])
        .await;
    assert_eq!(r.detail("URI"), Some("in.gov.test.board-MARKS-MYOWN42"));
    assert_eq!(app.pull_doc(&uris[0]).await.status(), "1");
    assert_eq!(
        app.pull_doc(&uris[1]).await.status(),
        "0",
        "still only reserved"
    );
}

async fn concurrent_imports_never_share_a_doc_id(b: Backend) {
    let ws = Workspace::new(b);
    // A tiny DocId space makes clashes certain, so the retry path is exercised.
    let cfg = std::fs::read_to_string(&ws.config_path)
        .expect("cfg")
        .replace(
            "expected_count = 1000\n",
            "expected_count = 100\ndoc_id_length = 4\n",
        );
    std::fs::write(&ws.config_path, cfg).expect("write");
    let mut files = Vec::new();
    for p in 0..4 {
        let mut csv = String::from("RegistrationNo,doc_name,issued_on,pdf\n");
        for i in 0..500 {
            csv.push_str(&format!("R{p}-{i},Diploma,01/07/2023,d.pdf\n"));
        }
        files.push(ws.write(&format!("p{p}.csv"), &csv));
    }
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            dlrepo(&ws)
                .args(["import", "--doctype", "DIPLM", "--batch", "50"])
                .arg(f)
                .arg("--out")
                .arg(f.with_extension("out"))
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let mut all = std::collections::HashSet::new();
    for f in &files {
        let out = std::fs::read_to_string(f.with_extension("out")).expect("out");
        for l in out.lines().skip(1) {
            assert!(
                all.insert(l.split(',').nth(1).expect("uri").to_string()),
                "duplicate {l}"
            );
        }
    }
    assert_eq!(all.len(), 2000);
}

/// A row without a doc_id never draws the DocId a later row of the same file gives. In
/// a space of 961 DocIds, 200 rows minting theirs and then 200 giving their own all go
/// in, each under a DocId of its own; minting blind, some minted row took a given DocId
/// in every run but one in 10^20, and the row that gave it was refused.
async fn a_minted_doc_id_never_takes_one_a_later_row_gives(b: Backend) {
    minted_and_given_doc_ids(b, false);
}

/// The same through a pipe, which can be read only once (it is copied aside first).
async fn a_piped_csv_minting_never_takes_a_doc_id_a_later_row_gives(b: Backend) {
    minted_and_given_doc_ids(b, true);
}

fn minted_and_given_doc_ids(b: Backend, piped: bool) {
    let mut ws = Workspace::new(b);
    ws.edit_config(|c| {
        c.replace(
            "expected_count = 1000\n",
            "expected_count = 90\ndoc_id_length = 2\n",
        )
    });
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let pdf = ws.path("d.pdf").display().to_string();
    let alphabet = String::from_utf8_lossy(dlrepo::uri::DOC_ID_ALPHABET).to_string();
    let given: Vec<String> = alphabet
        .chars()
        .flat_map(|a| alphabet.chars().map(move |b| format!("{a}{b}")))
        .take(200)
        .collect();
    let mut csv = String::from("RegistrationNo,doc_name,issued_on,pdf,doc_id\n");
    for i in 0..200 {
        csv.push_str(&format!("M{i},Diploma,01/07/2023,{pdf},\n"));
    }
    for (i, id) in given.iter().enumerate() {
        csv.push_str(&format!("G{i},Diploma,01/07/2023,{pdf},{id}\n"));
    }
    let mut import = dlrepo(&ws);
    import
        .args(["import", "--doctype", "DIPLM", "--batch", "50", "--out"])
        .arg(ws.path("mixed.out"));
    let out = if piped {
        through_stdin(&mut import, csv)
    } else {
        import
            .arg(ws.write("mixed.csv", &csv))
            .output()
            .expect("run")
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("already issued"), "{stderr}");
    let written = std::fs::read_to_string(ws.path("mixed.out")).expect("out");
    let ids: Vec<String> = written
        .lines()
        .skip(1)
        .map(|l| l.rsplit('-').next().expect("doc id").to_string())
        .collect();
    assert_eq!(ids.len(), 400, "{written}");
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 400, "{written}");
    for id in &given {
        assert!(ids.contains(id), "{id} not issued: {written}");
    }
}

/// Rows that give their own DocIds go in with the batch's bulk insert, as minted ones
/// do: in one batch, a DocId given twice is written once and the second row refused, a
/// DocId already issued is refused, and the rest are served under their own DocIds.
async fn rows_giving_their_doc_ids_are_written_together_and_never_twice(b: Backend) {
    let ws = Workspace::new(b);
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let first = ws.write(
        "first.csv",
        "RegistrationNo,doc_name,issued_on,pdf,doc_id\nR0,Diploma,01/07/2023,d.pdf,OLD1\n",
    );
    assert_eq!(ws.import("DIPLM", &first).imported, 1);
    let mut csv = String::from("RegistrationNo,doc_name,issued_on,pdf,doc_id\n");
    for i in 0..40 {
        csv.push_str(&format!("R{i}A,Diploma,01/07/2023,d.pdf,OWN{i}\n"));
    }
    csv.push_str("R7B,Diploma,01/07/2023,d.pdf,OWN7\n");
    csv.push_str("R9B,Diploma,01/07/2023,d.pdf,OLD1\n");
    csv.push_str("R10B,Diploma,01/07/2023,d.pdf,\n");
    let file = ws.write("own.csv", &csv);
    let report = ws.import("DIPLM", &file);
    assert_eq!(report.imported, 41, "{:?}", report.rejected);
    let mut refused: Vec<(u64, String)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    refused.sort();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, 42);
    assert!(
        refused[0].1.contains("doc_id OWN7 is already issued"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, 43);
    assert!(
        refused[1].1.contains("doc_id OLD1 is already issued"),
        "{refused:?}"
    );
    let app = spawn_on(ws).await;
    for i in [0, 7, 39] {
        let r = app
            .pull_uri(&[("RegistrationNo", format!("R{i}A").as_str())])
            .await;
        assert_eq!(
            r.detail("URI"),
            Some(format!("in.gov.test.board-DIPLM-OWN{i}").as_str()),
            "R{i}A"
        );
    }
    assert_eq!(
        app.pull_doc("in.gov.test.board-DIPLM-OWN7").await.status(),
        "1"
    );
}

/// A file whose rows give every DocId of a (tiny) space: the one row left to mint is
/// refused with the reason, and the import ends.
async fn a_file_giving_every_doc_id_leaves_a_minting_row_a_clear_refusal(b: Backend) {
    let mut ws = Workspace::new(b);
    ws.edit_config(|c| {
        c.replace(
            "expected_count = 1000\n",
            "expected_count = 3\ndoc_id_length = 1\n",
        )
    });
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let mut csv = String::from(
        "RegistrationNo,doc_name,issued_on,pdf,doc_id\nM0,Diploma,01/07/2023,d.pdf,\n",
    );
    for (i, id) in dlrepo::uri::DOC_ID_ALPHABET.iter().enumerate() {
        csv.push_str(&format!("G{i},Diploma,01/07/2023,d.pdf,{}\n", *id as char));
    }
    let file = ws.write("full.csv", &csv);
    let out = dlrepo(&ws)
        .args(["import", "--doctype", "DIPLM"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stderr.contains("line 2: no free DocId") && stderr.contains("imported 31 row(s)"),
        "{stderr}"
    );
}

/// A CSV given as a pipe (`/dev/stdin`, `<(zcat …)`) is imported whole: the DocIds it
/// gives are read ahead from a copy of it, not from the pipe, which would take rows
/// away from the import; its rows' PDF paths are relative to the current folder.
async fn a_csv_piped_in_is_read_whole(b: Backend) {
    let ws = Workspace::new(b);
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let mut csv = String::from("RegistrationNo,doc_name,issued_on,pdf,doc_id\n");
    for i in 0..20_000 {
        let id = if i % 2 == 0 {
            format!("own{i}")
        } else {
            String::new()
        };
        csv.push_str(&format!("R{i},Diploma,01/07/2023,d.pdf,{id}\n"));
    }
    // A piped CSV's PDF paths are relative to the current folder.
    let out = through_stdin(
        dlrepo(&ws)
            .current_dir(ws.path("."))
            .args(["import", "--doctype", "DIPLM"]),
        csv,
    );
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("imported 20000 row(s), rejected 0"),
        "{stderr}"
    );
}

/// `dlrepo import /dev/stdin < rows.csv` stands for the file: its rows' PDF paths are
/// relative to the file's folder, as when it is named, wherever the import runs.
async fn a_csv_redirected_to_stdin_finds_its_pdfs_beside_it(b: Backend) {
    let ws = Workspace::new(b);
    std::fs::write(ws.path("d.pdf"), b"%PDF-1.4\n%%EOF\n").expect("pdf");
    let csv = ws.write(
        "redirected.csv",
        "RegistrationNo,doc_name,issued_on,pdf,doc_id\nR1,Diploma,01/07/2023,d.pdf,OWN1\n\
         R2,Diploma,01/07/2023,d.pdf,\n",
    );
    let out = dlrepo(&ws)
        .current_dir("/")
        .args(["import", "--doctype", "DIPLM", "/dev/stdin"])
        .stdin(std::fs::File::open(&csv).expect("csv"))
        .output()
        .expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("imported 2 row(s), rejected 0"), "{text}");
}

async fn rows_without_a_pdf_are_rendered_from_the_doc_types_template(b: Backend) {
    let mut ws = Workspace::new(b);
    std::fs::create_dir_all(ws.path("templates")).expect("dir");
    std::fs::copy(
        "templates/marksheet.toml",
        ws.path("templates/marksheet.toml"),
    )
    .expect("copy");
    ws.edit_config(|c| {
        c.replacen(
            "name = \"Class X Mark Sheet\"\n",
            "name = \"Class X Mark Sheet\"\ntemplate = \"templates/marksheet.toml\"\n",
            1,
        )
    });
    let csv = ws.write(
        "t.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,TotalMarks\n3000001,2024,Meera Krishnan,Class X Mark Sheet 2024,15/05/2024,452\n",
    );
    let report = ws.import("MARKS", &csv);
    assert_eq!(report.imported, 1, "{:?}", report.rejected);
    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("RollNo", "3000001"), ("Year", "2024")])
        .await;
    assert_eq!(r.status(), "1");
    let uri = r.detail("URI").expect("uri").to_string();
    let doc = lopdf::Document::load_mem(&r.doc_bytes()).expect("pdf");
    let text = doc.extract_text(&[1]).expect("text");
    for want in [
        "Class X Mark Sheet 2024",
        "Name: Meera Krishnan",
        "Roll number: 3000001",
        "Year of examination: 2024",
        "Total marks: 452",
        "Issued on: 15/05/2024",
        uri.as_str(),
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
}

/// The usual department import: every row names a PDF of its own (plus a few rows that
/// share one). Their files are stored a batch at a time; each row must still be served
/// exactly its own file, and a re-run must find every row already issued.
async fn rows_with_a_pdf_each_are_served_their_own_bytes(b: Backend) {
    let ws = Workspace::new(b);
    std::fs::create_dir_all(ws.path("pdfs")).expect("dir");
    let own = |i: u32| {
        format!(
            "%PDF-1.4\n% the mark sheet of roll {}\n%%EOF\n",
            3_000_000 + i
        )
    };
    let mut csv = String::from("RollNo,Year,holder_name,doc_name,issued_on,pdf\n");
    for i in 0..300 {
        std::fs::write(ws.path(&format!("pdfs/{i}.pdf")), own(i)).expect("pdf");
        csv.push_str(&format!(
            "{},2022,Student {i},Mark Sheet,15/05/2022,pdfs/{i}.pdf\n",
            3_000_000 + i
        ));
    }
    std::fs::write(
        ws.path("shared.pdf"),
        b"%PDF-1.4\n% one file, three rows\n%%EOF\n",
    )
    .expect("pdf");
    for i in 300..303 {
        csv.push_str(&format!(
            "{},2022,Student {i},Mark Sheet,15/05/2022,shared.pdf\n",
            3_000_000 + i
        ));
    }
    let file = ws.write("rows.csv", &csv);
    let run = || {
        let out = dlrepo(&ws)
            .args(["import", "--doctype", "MARKS", "--batch", "100"])
            .arg(&file)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(first.contains("imported 303 row(s), rejected 0"), "{first}");
    let again = run();
    assert!(
        again.contains("imported 0 row(s)") && again.contains("303 already issued"),
        "{again}"
    );

    let app = spawn_on(ws).await;
    for i in [0u32, 1, 99, 100, 150, 299] {
        let r = app
            .pull_uri(&[("RollNo", &(3_000_000 + i).to_string()), ("Year", "2022")])
            .await;
        assert_eq!(r.status(), "1", "roll {i}");
        assert_eq!(r.doc_bytes(), own(i).as_bytes(), "roll {i}");
    }
    for i in 300..303u32 {
        let r = app
            .pull_uri(&[("RollNo", &(3_000_000 + i).to_string()), ("Year", "2022")])
            .await;
        assert_eq!(r.doc_bytes(), b"%PDF-1.4\n% one file, three rows\n%%EOF\n");
    }
}

/// Rows without a PDF are rendered ahead, on the reader's threads, under the DocIds
/// minted for them. In a DocId space partly reserved, draws clash and the row ends up
/// under another DocId: its certificate must then be made again, so that every served
/// certificate prints the URI it is served under, and no reservation is taken. Two
/// imports: with 6% of the space reserved (a clash is minted again within the bulk
/// insert) and then 25% (past 10% skipped, the rows go one by one).
async fn certificates_rendered_ahead_name_the_doc_id_they_are_served_under(b: Backend) {
    let mut ws = Workspace::new(b);
    // 32^3 = 32,768 DocIds.
    ws.edit_config(|c| {
        c.replacen(
            "expected_count = 1000\n",
            "expected_count = 1000\ndoc_id_length = 3\n",
            1,
        )
    });
    let mut reserved = std::collections::HashSet::new();
    for (part, reserve) in [(0, 2000), (1, 6000)] {
        let minted = dlrepo(&ws)
            .args([
                "mint",
                "--doctype",
                "DIPLM",
                "--count",
                &reserve.to_string(),
            ])
            .output()
            .expect("mint");
        assert!(
            minted.status.success(),
            "{}",
            String::from_utf8_lossy(&minted.stderr)
        );
        reserved.extend(
            String::from_utf8_lossy(&minted.stdout)
                .lines()
                .map(str::to_string),
        );
        let mut csv = String::from("RegistrationNo,doc_name,issued_on\n");
        for i in 0..300 {
            csv.push_str(&format!("REG-{part}-{i},Diploma,01/07/2023\n"));
        }
        let file = ws.write(&format!("rows{part}.csv"), &csv);
        let out = dlrepo(&ws)
            .args(["import", "--doctype", "DIPLM", "--batch", "100"])
            .arg(&file)
            .output()
            .expect("import");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("imported 300 row(s), rejected 0"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(reserved.len(), 8000);

    let app = spawn_on(ws).await;
    let mut served = std::collections::HashSet::new();
    for part in 0..2 {
        for i in 0..300 {
            let reg = format!("REG-{part}-{i}");
            let r = app.pull_uri(&[("RegistrationNo", &reg)]).await;
            assert_eq!(r.status(), "1", "{reg}");
            let uri = r.detail("URI").expect("uri").to_string();
            assert!(!reserved.contains(&uri), "{reg} took reservation {uri}");
            let doc = lopdf::Document::load_mem(&r.doc_bytes()).expect("pdf");
            let text = doc.extract_text(&[1]).expect("text");
            assert!(
                text.contains(&format!("Document URI: {uri}")),
                "{reg} is served under {uri} but its certificate says {text}"
            );
            served.insert(uri);
        }
    }
    assert_eq!(served.len(), 600);
}
