-- The clue workflow (issue 13, docs/workflow.md). clues.state stays the state; the rest of
-- where a clue stands is clue_flow (no row: a clue fresh from a detector, in 'new' since
-- first_seen). A screening writes neither table.

CREATE TABLE IF NOT EXISTS clue_flow (
    clue_id         BIGINT PRIMARY KEY,
    since           TIMESTAMP NOT NULL,          -- entered its state
    deadline        TIMESTAMP,                   -- the current step is due (NULL: none)
    dispatch_region VARCHAR NOT NULL,            -- 下发 to ('' before)
    returned_from   VARCHAR NOT NULL,            -- a returned clue's state before ('' otherwise)
    deliberate      BOOLEAN NOT NULL,            -- 合议 asked for
    case_id         BIGINT NOT NULL,             -- 案件 (0: none)
    outcome         VARCHAR                      -- JSON of tracewatch.Outcome once closed
);

-- Every step, in order: transitions and 合议 votes (applied = false until the quorum).
CREATE TABLE IF NOT EXISTS clue_steps (
    seq        BIGINT NOT NULL,
    clue_id    BIGINT NOT NULL,
    from_state VARCHAR NOT NULL,
    to_state   VARCHAR NOT NULL,
    actor      VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    step_at    TIMESTAMP NOT NULL,
    note       VARCHAR NOT NULL,
    vote       BOOLEAN NOT NULL,
    applied    BOOLEAN NOT NULL,
    region     VARCHAR NOT NULL,
    deadline   TIMESTAMP,
    outcome    VARCHAR,
    case_id    BIGINT NOT NULL,
    remote     VARCHAR NOT NULL
);
CREATE INDEX IF NOT EXISTS clue_steps_clue ON clue_steps (clue_id);

-- Files attached to a clue; the bytes are DATA_DIR/attachments/<sha256>.
CREATE TABLE IF NOT EXISTS clue_attachments (
    id           BIGINT NOT NULL,
    clue_id      BIGINT NOT NULL,
    name         VARCHAR NOT NULL,
    content_type VARCHAR NOT NULL,
    size         BIGINT NOT NULL,
    sha256       VARCHAR NOT NULL,
    actor        VARCHAR NOT NULL,
    added_at     TIMESTAMP NOT NULL
);

-- Points given to practitioners when a clue is closed (驾照式记分).
CREATE TABLE IF NOT EXISTS practitioner_points (
    clue_id        BIGINT NOT NULL,
    practitioner   VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    points         INTEGER NOT NULL,
    responsibility VARCHAR NOT NULL,
    awarded_at     TIMESTAMP NOT NULL,
    actor          VARCHAR NOT NULL
);

-- 案件: clues about one institution in one period, moved as one (clue_flow.case_id).
CREATE TABLE IF NOT EXISTS cases (
    id             BIGINT NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    admdvs         VARCHAR NOT NULL,
    period_from    TIMESTAMP NOT NULL,
    period_to      TIMESTAMP NOT NULL,
    title          VARCHAR NOT NULL,
    actor          VARCHAR NOT NULL,
    created        TIMESTAMP NOT NULL
);
