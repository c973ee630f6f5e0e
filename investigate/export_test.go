package investigate

// ParseColumnsForTest exposes parseColumns to the tests.
var ParseColumnsForTest = parseColumns
