-- 003_proposal_proposer_name.sql — how the proposer was shown when the
-- proposal was made (nickname, display name or username), so the admins'
-- autocomplete can read "#12 channel: retro-gaming by bob" without a
-- member lookup per line (the bot has no GUILD_MEMBERS intent). NULL for
-- proposals made before this migration: they show the user id.
ALTER TABLE proposals ADD COLUMN proposer_name TEXT;
