ALTER TABLE documents
    ALTER COLUMN doctype TYPE TEXT COLLATE "default",
    ALTER COLUMN doc_id TYPE TEXT COLLATE "default",
    ALTER COLUMN udf_key TYPE TEXT COLLATE "default";
