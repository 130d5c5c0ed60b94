-- tracewatch schema, version 1. SQL in the subset DuckDB and PostgreSQL share.
-- Trace codes are keyed by code_id BIGINT (tracewatch.CodeID): 20-digit NMPA codes map
-- arithmetically, every other identity through code_dict.

CREATE TABLE regions (
    admdvs  VARCHAR PRIMARY KEY,
    name    VARCHAR NOT NULL,
    parent  VARCHAR
);

CREATE TABLE institutions (
    fixmedins_code VARCHAR PRIMARY KEY,
    name           VARCHAR NOT NULL,
    type           VARCHAR NOT NULL,
    admdvs         VARCHAR NOT NULL,
    level          VARCHAR,
    chain          VARCHAR,
    agreements     VARCHAR  -- "status:from[:to];…", dates yyyy-mm-dd
);

CREATE TABLE persons (
    psn_no        VARCHAR PRIMARY KEY,
    certno_masked VARCHAR,
    certno_hash   VARCHAR,
    name          VARCHAR,
    gender        VARCHAR,
    birth         DATE,
    admdvs        VARCHAR,
    insutype      VARCHAR,
    death         DATE,
    chronic       VARCHAR
);

CREATE TABLE practitioners (
    prac_id        VARCHAR PRIMARY KEY,
    name           VARCHAR,
    kind           VARCHAR,
    fixmedins_code VARCHAR,
    status         VARCHAR
);

CREATE TABLE drugs (
    med_list_codg VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    spec          VARCHAR,
    pack_content  BIGINT NOT NULL,
    price_fen     BIGINT NOT NULL,
    reimbursable  BOOLEAN NOT NULL,
    kind          VARCHAR,
    gender_limit  VARCHAR,
    min_age       INTEGER,
    max_age       INTEGER,
    max_days      INTEGER,
    restriction   VARCHAR
);

CREATE TABLE codemap (
    product_id     VARCHAR PRIMARY KEY,
    med_list_codg  VARCHAR NOT NULL,
    commodity_code VARCHAR,
    pack_level     INTEGER NOT NULL
);

CREATE TABLE code_dict (
    code_id  BIGINT PRIMARY KEY,
    code_key VARCHAR NOT NULL
);
CREATE UNIQUE INDEX code_dict_key ON code_dict (code_key);

CREATE TABLE packages (
    parent_id BIGINT NOT NULL,
    child_id  BIGINT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);

CREATE TABLE messages (
    msgid          VARCHAR PRIMARY KEY,
    infno          VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    accepted       INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    response       VARCHAR NOT NULL
);

-- One row per line of a message (quantities in 1/10000, money in fen, times UTC).
CREATE TABLE events (
    event_id       BIGINT NOT NULL,
    msgid          VARCHAR NOT NULL,
    line           INTEGER NOT NULL,
    infno          VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,
    change_type    VARCHAR,
    fixmedins_code VARCHAR NOT NULL,
    med_list_codg  VARCHAR,
    item_id        VARCHAR,
    item_name      VARCHAR,
    batch_no       VARCHAR,
    lot_no         VARCHAR,
    made           TIMESTAMP,
    expires        TIMESTAMP,
    qty            BIGINT NOT NULL,
    split_pack     BOOLEAN NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    fund_paid_fen  BIGINT NOT NULL,
    event_time     TIMESTAMP,
    receipt        VARCHAR,
    setl_id        VARCHAR,
    visit          VARCHAR,
    fee_line       VARCHAR,
    psn_no         VARCHAR,
    certno_masked  VARCHAR,
    settle_type    VARCHAR,
    supplier       VARCHAR,
    prescriber     VARCHAR,
    pharmacist     VARCHAR,
    data_type      VARCHAR
);

-- One row per trace code on an event line (children of a scanned parent included).
CREATE TABLE event_codes (
    event_id       BIGINT NOT NULL,
    code_id        BIGINT,            -- NULL when the code did not parse
    raw            VARCHAR NOT NULL,
    code_kind      VARCHAR,
    product_id     VARCHAR,
    error          VARCHAR,
    parent_id      BIGINT,
    pack_level     INTEGER NOT NULL,
    med_list_codg  VARCHAR,
    event_kind     VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    event_time     TIMESTAMP
);

-- One row per distinct sale-side fact of a code (tracewatch.SaleID): the ledger's input.
CREATE TABLE sale_codes (
    code_id        BIGINT NOT NULL,
    sale_id        VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    event_time     TIMESTAMP,
    whole          BIGINT NOT NULL,   -- +1 a whole pack sold, -1 returned or cancelled
    split_qty      BIGINT NOT NULL,   -- ± minimum units (1/10000) of a split-pack sale
    PRIMARY KEY (code_id, sale_id)
);

CREATE TABLE ledger (
    code_id      BIGINT PRIMARY KEY,
    sold_whole   BIGINT NOT NULL,
    sold_split   BIGINT NOT NULL,
    pack_content BIGINT NOT NULL,
    sales        INTEGER NOT NULL,
    returns      INTEGER NOT NULL,
    first_seller VARCHAR,
    first_sale   TIMESTAMP,
    last_sale    TIMESTAMP,
    received     INTEGER NOT NULL
);

CREATE TABLE quarantine (
    id             BIGINT PRIMARY KEY,
    msgid          VARCHAR,
    infno          VARCHAR,
    fixmedins_code VARCHAR,
    source         VARCHAR NOT NULL,
    row_no         INTEGER NOT NULL,
    field          VARCHAR,
    reason         VARCHAR NOT NULL,
    payload        VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    resubmitted    BOOLEAN NOT NULL
);

CREATE TABLE institution_keys (
    paasid         VARCHAR PRIMARY KEY,
    fixmedins_code VARCHAR NOT NULL,
    secret_enc     VARCHAR NOT NULL,  -- hex of the encrypted secret
    created_at     TIMESTAMP NOT NULL,
    revoked        BOOLEAN NOT NULL
);
