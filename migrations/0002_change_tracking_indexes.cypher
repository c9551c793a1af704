// Every write stamps `changed_at` on the users and items it touched; refresh jobs pull
// `WHERE n.changed_at > $watermark`, which these range indexes answer without a scan.
CREATE INDEX user_changed_at IF NOT EXISTS FOR (u:User) ON (u.changed_at);
CREATE INDEX item_changed_at IF NOT EXISTS FOR (i:Item) ON (i.changed_at);
// Time-window questions over raw events (interest drift, replays).
CREATE INDEX interaction_ts IF NOT EXISTS FOR (x:Interaction) ON (x.ts);
// Catalog-pending items (created by an event before the catalog knew them).
CREATE INDEX item_in_catalog IF NOT EXISTS FOR (i:Item) ON (i.in_catalog);
