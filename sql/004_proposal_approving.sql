-- 004_proposal_approving.sql — an approval in two steps. The row goes
-- pending -> approving (with final_name and the time) before Discord is
-- asked to create the channel or emoji, and approving -> approved once it
-- has; a refusal puts it back to pending. A bot stopped between the two
-- leaves 'approving', which the next start resolves: the channel or emoji
-- found on Discord (created at or after approving_since) finishes the
-- approval, none puts the proposal back to pending with a note to the
-- admins. Before this, 'approved' came first and a crash left an approved
-- proposal with nothing created.
ALTER TABLE proposals DROP CONSTRAINT proposals_status_check;
ALTER TABLE proposals ADD CONSTRAINT proposals_status_check
    CHECK (status IN ('pending', 'approving', 'approved', 'rejected'));
ALTER TABLE proposals ADD COLUMN approving_since TIMESTAMPTZ;
-- an approval in progress is still the member's open proposal: it may go
-- back to pending, which must not collide with a newer one
DROP INDEX proposals_one_pending_per_user_type;
CREATE UNIQUE INDEX proposals_one_pending_per_user_type
    ON proposals (user_id, proposal_type) WHERE status IN ('pending', 'approving');
