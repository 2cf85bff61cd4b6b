//! Conformance results as JUnit XML: one testcase per check, a failure element for a
//! failed one, skipped for a skipped one. Warnings (checks not required) that fail are
//! reported as failures with type="warning".

use super::{CheckResult, Outcome};
use crate::wire::xml::escape;

pub fn write(results: &[CheckResult]) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"dlrepo conformance\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        results.len()
    );
    for r in results {
        let name = escape(&r.name);
        match &r.outcome {
            Outcome::Pass(_) => {
                out.push_str(&format!(
                    "  <testcase classname=\"conformance\" name=\"{name}\"/>\n"
                ));
            }
            Outcome::Fail(why) => {
                let kind = if r.required { "required" } else { "warning" };
                out.push_str(&format!(
                    "  <testcase classname=\"conformance\" name=\"{name}\"><failure type=\"{kind}\" message=\"{}\"/></testcase>\n",
                    escape(why)
                ));
            }
            Outcome::Skip(why) => {
                out.push_str(&format!(
                    "  <testcase classname=\"conformance\" name=\"{name}\"><skipped message=\"{}\"/></testcase>\n",
                    escape(why)
                ));
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_escapes() {
        let results = vec![
            CheckResult {
                name: "a".into(),
                required: true,
                outcome: Outcome::Pass("ok".into()),
            },
            CheckResult {
                name: "b".into(),
                required: true,
                outcome: Outcome::Fail("x < y & \"z\"".into()),
            },
            CheckResult {
                name: "c".into(),
                required: false,
                outcome: Outcome::Skip("no".into()),
            },
        ];
        let xml = write(&results);
        let root = crate::wire::xml::parse(xml.as_bytes()).expect("well-formed");
        assert_eq!(root.attr("tests"), Some("3"));
        assert_eq!(root.attr("failures"), Some("1"));
        assert_eq!(root.attr("skipped"), Some("1"));
        assert!(xml.contains("x &lt; y &amp; &quot;z&quot;"));
    }
}
