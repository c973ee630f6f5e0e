package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// EventIndexes implements prov.ReadTx.
func (t *txn) EventIndexes(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.c.Query(ctx, "SELECT event_id, idx FROM "+pgx.Identifier{t.s.schema}.Sanitize()+".records WHERE event_id = ANY($1::text[])", ids)
	if err != nil {
		return nil, t.s.wrap(ctx, "read event ids", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var idx int64
		if err := rows.Scan(&id, &idx); err != nil {
			return nil, t.s.wrap(ctx, "read event ids", err)
		}
		out[id] = idx
	}
	return out, t.s.wrap(ctx, "read event ids", rows.Err())
}
