-- Expand: a nullable column, which the running version ignores.
ALTER TABLE orders ADD COLUMN note text;
