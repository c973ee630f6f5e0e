package sqlite

import (
	"context"
	"encoding/json"
)

// EventIndexes implements prov.ReadTx.
func (t *txn) EventIndexes(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	list, _ := json.Marshal(ids)
	rows, err := t.query(ctx, "SELECT event_id, idx FROM records WHERE event_id IN (SELECT value FROM json_each(?))", string(list))
	if err != nil {
		return nil, wrap("read event ids", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var idx int64
		if err := rows.Scan(&id, &idx); err != nil {
			return nil, wrap("read event ids", err)
		}
		out[id] = idx
	}
	return out, wrap("read event ids", rows.Err())
}
