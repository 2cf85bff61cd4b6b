//! Hand-written schema shared by both backends: portable types only. A test checks it
//! against what the migrations create.

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        content -> Binary,
        size -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    documents (id) {
        id -> BigInt,
        doctype -> Text,
        doc_id -> Text,
        status -> Text,
        udf_key -> Nullable<Text>,
        doc_name -> Nullable<Text>,
        holder_name -> Nullable<Text>,
        aadhaar -> Nullable<Text>,
        issued_on -> Nullable<Text>,
        valid_from -> Nullable<Text>,
        valid_to -> Nullable<Text>,
        blob_sha256 -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        holder_dob -> Nullable<Text>,
        holder_gender -> Nullable<Text>,
        holder_phone -> Nullable<Text>,
        data -> Nullable<Text>,
        xml_sha256 -> Nullable<Text>,
        fingerprint -> Nullable<Text>,
        signed_with -> Nullable<Text>,
        made_from -> Nullable<Text>,
    }
}

diesel::table! {
    document_versions (id) {
        id -> BigInt,
        doctype -> Text,
        doc_id -> Text,
        blob_sha256 -> Nullable<Text>,
        xml_sha256 -> Nullable<Text>,
        fingerprint -> Nullable<Text>,
        replaced_at -> Timestamp,
    }
}

diesel::joinable!(documents -> blobs (blob_sha256));
diesel::allow_tables_to_appear_in_same_query!(blobs, documents);

diesel::table! {
    push_files (id) {
        id -> BigInt,
        file_name -> Text,
        status -> Text,
        row_count -> BigInt,
        attempts -> Integer,
        claimed_by -> Nullable<Text>,
        last_message -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    push_outbox (id) {
        id -> BigInt,
        file_id -> Nullable<BigInt>,
        aadhaar -> Text,
        uri -> Text,
        doc_type -> Text,
        doc_name -> Text,
        doc_id -> Text,
        issued_on -> Nullable<Text>,
        valid_from -> Nullable<Text>,
        valid_to -> Nullable<Text>,
        action -> Text,
        time_stamp -> Timestamp,
    }
}

diesel::joinable!(push_outbox -> push_files (file_id));
diesel::allow_tables_to_appear_in_same_query!(push_files, push_outbox);

diesel::table! {
    aadhaar_vault (id) {
        id -> BigInt,
        lookup_hash -> Text,
        key_id -> Text,
        sealed -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    seen_requests (org_id, txn) {
        org_id -> Text,
        txn -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_pulls (id) {
        id -> BigInt,
        at -> Timestamp,
        caller -> Nullable<Text>,
        endpoint -> Text,
        api -> Text,
        ver -> Nullable<Text>,
        doctype -> Nullable<Text>,
        uri -> Nullable<Text>,
        search -> Nullable<Text>,
        status -> Integer,
        http -> Integer,
        reason -> Nullable<Text>,
        latency_us -> BigInt,
    }
}

diesel::table! {
    audit_segments (seg) {
        seg -> Integer,
        last_id -> BigInt,
    }
}

diesel::table! {
    audit_lookups (seg, lookup, id) {
        seg -> Integer,
        lookup -> Text,
        id -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(audit_lookups, audit_segments);

diesel::table! {
    /// Running counts of `audit_pulls` per day (`audit::counts`).
    audit_counts (day, doctype, endpoint, status, reason) {
        day -> Text,
        doctype -> Text,
        endpoint -> Text,
        status -> Integer,
        reason -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    audit_latencies (day, doctype, bucket) {
        day -> Text,
        doctype -> Text,
        bucket -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    audit_counted (one) {
        one -> Integer,
        last_id -> BigInt,
    }
}

diesel::table! {
    audit_pushes (id) {
        id -> BigInt,
        at -> Timestamp,
        file_name -> Text,
        rows -> BigInt,
        attempt -> Integer,
        outcome -> Text,
        message -> Text,
    }
}

diesel::table! {
    requester_documents (id) {
        id -> BigInt,
        user_ref -> Text,
        doc_id -> Text,
        source_host -> Text,
        content_type -> Nullable<Text>,
        sha256 -> Text,
        size -> BigInt,
        content -> Binary,
        received_at -> Timestamp,
    }
}

/// The columns of `documents` an import writes, in `NewDocument`'s field order: the
/// bulk inserts of both backends (`pg_bulk`, `sqlite_bulk`) name and bind them so.
pub const IMPORTED_COLUMNS: &str =
    "doctype, doc_id, status, udf_key, doc_name, holder_name, aadhaar, \
    issued_on, valid_from, valid_to, blob_sha256, created_at, updated_at, holder_dob, \
    holder_gender, holder_phone, data, xml_sha256, fingerprint, signed_with, made_from";
