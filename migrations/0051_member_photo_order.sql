-- When the directory message a member's photo came from was sent: a photo message older than that (a redelivery
-- that comes late) neither replaces nor removes the photo. NULL for photos set before this column existed.
ALTER TABLE member_photos ADD COLUMN sent_at timestamptz;
