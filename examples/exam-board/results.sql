-- The exam board's own table, as it might already exist, with a few sample rows.
CREATE TABLE IF NOT EXISTS results (
    id            SERIAL PRIMARY KEY,
    roll_no       INTEGER NOT NULL,
    exam_year     INTEGER NOT NULL,
    student_name  TEXT NOT NULL,
    school        TEXT,
    total_marks   NUMERIC(5, 1),
    division      TEXT,
    declared_on   DATE NOT NULL,
    aadhaar       TEXT,
    UNIQUE (roll_no, exam_year)
);

INSERT INTO results (roll_no, exam_year, student_name, school, total_marks, division, declared_on)
VALUES
    (1100101, 2024, 'Aarav Sharma',  'Govt. High School, Kochi',      452.0, 'First', DATE '2024-05-15'),
    (1100102, 2024, 'Diya Patel',    'Govt. High School, Kochi',      388.5, 'First', DATE '2024-05-15'),
    (1100103, 2024, 'Vihaan Reddy',  'St. Mary''s School, Thrissur',  301.0, 'Second', DATE '2024-05-15'),
    (1100104, 2023, 'Ananya Iyer',   'Model School, Kollam',          470.0, 'Distinction', DATE '2023-05-16')
ON CONFLICT (roll_no, exam_year) DO NOTHING;

-- dlrepo reads with a role that can do nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dlrepo_reader') THEN
        CREATE ROLE dlrepo_reader LOGIN;
    END IF;
END $$;
GRANT CONNECT ON DATABASE examboard TO dlrepo_reader;
GRANT SELECT ON results TO dlrepo_reader;
