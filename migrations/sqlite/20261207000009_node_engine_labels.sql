-- Labels a node reports about itself at join (`shoal-agent join --label`),
-- kept apart from the operator's `labels`: a node chooses its own, so only
-- the operator's may decide which services it gets (`node.labels.*`);
-- `engine.labels.*` constraints read these. A JSON object, like `labels`.
-- Existing nodes keep what they have as operator labels: whether an
-- operator set them cannot be told now, and moving them would make
-- services that rely on them unplaceable.

ALTER TABLE nodes ADD COLUMN engine_labels TEXT NOT NULL DEFAULT '{}';
