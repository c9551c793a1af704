// Catalogue phrase counts for tagging: (:Item)-[:MENTIONS]->(:Phrase {text}) links an item to
// every candidate tag its texts gave; a phrase's item count is its degree, so the tagger reads
// how widely the catalogue shares a phrase with one key lookup per phrase.
CREATE CONSTRAINT phrase_text_unique IF NOT EXISTS FOR (p:Phrase) REQUIRE p.text IS UNIQUE;
