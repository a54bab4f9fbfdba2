-- Each organization's total of the payments created per UTC day and currency, for the
-- spending policy's daily cap. Kept by create_draft in the transaction that records the
-- draft: the row lock taken by its upsert serializes creates of one organization, day and
-- currency across replicas, so concurrent creates never together pass the cap.

CREATE TABLE spend (
    organization text NOT NULL,
    day          text NOT NULL,            -- yyyy-mm-dd, UTC, of the payment's created_at
    currency     text NOT NULL,
    total        bigint NOT NULL,          -- minor units
    PRIMARY KEY (organization, day, currency)
);
