-- 001_initial.sql — the spec's tables (agora-spec.txt 5.1).
-- Applied once, inside a transaction, and recorded in schema_migrations.

CREATE TABLE proposals (
    proposal_id    SERIAL PRIMARY KEY,
    user_id        BIGINT      NOT NULL,
    proposal_type  TEXT        NOT NULL CHECK (proposal_type IN ('channel', 'emoji')),
    status         TEXT        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'approved', 'rejected')),
    original_text  TEXT        NOT NULL,
    llm_suggestion TEXT,
    final_name     TEXT,
    file_url       TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- "a pending proposal of this type by this user" (spec 6.1 limit check),
-- and at most one such proposal even under concurrent submissions
CREATE UNIQUE INDEX proposals_one_pending_per_user_type
    ON proposals (user_id, proposal_type) WHERE status = 'pending';
CREATE INDEX proposals_pending ON proposals (proposal_id) WHERE status = 'pending';

CREATE TABLE reports (
    report_id               SERIAL PRIMARY KEY,
    user_id                 BIGINT NOT NULL,
    status                  TEXT   NOT NULL DEFAULT 'pending'
                                   CHECK (status IN ('pending', 'investigating', 'resolved')),
    description             TEXT   NOT NULL,
    file_url                TEXT,
    notification_message_id BIGINT,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reports_open ON reports (report_id) WHERE status <> 'resolved';

CREATE TABLE tracked_channels (
    channel_id BIGINT PRIMARY KEY,
    category   TEXT   NOT NULL CHECK (category IN ('proposed', 'permanent'))
);

CREATE TABLE persistent_embeds (
    embed_name TEXT   PRIMARY KEY,
    channel_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL
);
