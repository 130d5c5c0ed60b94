-- 3103 事前事中服务反馈: the pharmacy's decision on a real-time warning.
CREATE TABLE check_feedback (
    msgid          VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    warn_type      VARCHAR,
    jr_id          VARCHAR NOT NULL,   -- warn_rslt_id: the warning's jr_id
    dspo_way       VARCHAR NOT NULL,   -- 1 continue, 2 go back and modify
    dspo_way_rea   VARCHAR,            -- the reason (required to continue)
    received_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (msgid, jr_id)
);
