-- 002_proposal_emoji_image.sql — the validated emoji image kept with its
-- proposal (issue 10.3): Discord's attachment URLs expire, so an approval
-- days later must not depend on file_url still answering.
-- The one-pending-per-user-and-type rule is 001's partial unique index
-- proposals_one_pending_per_user_type; it is what makes concurrent
-- submissions safe, not the read-then-insert check.

ALTER TABLE proposals
    ADD COLUMN emoji_image        BYTEA,
    ADD COLUMN emoji_content_type TEXT,
    -- Discord's emoji limit (256 KiB); the bot refuses more before download
    ADD CONSTRAINT proposals_emoji_image_size
        CHECK (emoji_image IS NULL OR octet_length(emoji_image) BETWEEN 1 AND 262144),
    ADD CONSTRAINT proposals_emoji_content_type
        CHECK (emoji_content_type IS NULL
               OR emoji_content_type IN ('image/png', 'image/jpeg', 'image/gif')),
    -- both or neither, and only on emoji proposals
    ADD CONSTRAINT proposals_emoji_image_pair
        CHECK ((emoji_image IS NULL) = (emoji_content_type IS NULL)
               AND (emoji_image IS NULL OR proposal_type = 'emoji'));
