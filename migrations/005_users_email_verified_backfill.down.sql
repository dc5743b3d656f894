-- Nothing to undo: is_verified still holds the truth until the contract phase drops it.
SELECT 1;
