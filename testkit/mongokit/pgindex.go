package mongokit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// FerretDB 1.24's PostgreSQL backend stores a document as one jsonb value
// and evaluates an equality filter (_id's included) as `_jsonb->'field' @>
// value`, which its own btree indexes (on `_jsonb->'field'`) cannot serve:
// every find or update by _id scans the whole table (measured: 10 ms at
// 6,000 tickets, 0.03 ms with an index). A GIN index on the same expression
// serves @>.

// fieldExpr finds the indexed fields in an index definition FerretDB wrote:
// `USING btree (((_jsonb -> 'orderId'::text)), ((_jsonb -> '_id'::text)))`.
var fieldExpr = regexp.MustCompile(`\(_jsonb -> '((?:[^']|'')+)'::text\)`)

// EnsurePostgreSQLIndexes adds, to every collection FerretDB keeps in the
// PostgreSQL database at url, a GIN index on _id and on every top-level
// field of its indexes, unless it has them. It returns the indexes it
// created. FerretDB does not know of them: they change no result, only the
// plan, and go when FerretDB drops the collection's table.
func EnsurePostgreSQLIndexes(ctx context.Context, url string) ([]string, error) {
	conn, err := pgx.Connect(ctx, postgreSQLURL(url))
	if err != nil {
		return nil, fmt.Errorf("postgresql indexes: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	rows, err := conn.Query(ctx, `
		SELECT t.table_schema, t.table_name, coalesce(i.indexname, ''), coalesce(i.indexdef, '')
		FROM information_schema.tables t
		LEFT JOIN pg_indexes i ON i.schemaname = t.table_schema AND i.tablename = t.table_name
		WHERE t.table_schema IN (SELECT table_schema FROM information_schema.tables WHERE table_name = '_ferretdb_database_metadata')
		  AND t.table_name NOT LIKE '\_ferretdb\_%'`)
	if err != nil {
		return nil, fmt.Errorf("postgresql indexes: %w", err)
	}
	type table struct{ schema, name string }
	fields := map[table]map[string]bool{}
	have := map[string]bool{}
	for rows.Next() {
		var t table
		var index, def string
		if err := rows.Scan(&t.schema, &t.name, &index, &def); err != nil {
			rows.Close()
			return nil, err
		}
		if fields[t] == nil {
			fields[t] = map[string]bool{"_id": true}
		}
		have[t.schema+"."+index] = true
		if strings.Contains(def, "USING btree") {
			for _, m := range fieldExpr.FindAllStringSubmatch(def, -1) {
				fields[t][strings.ReplaceAll(m[1], "''", "'")] = true
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var created []string
	for t, fs := range fields {
		for f := range fs {
			sum := sha256.Sum256([]byte(t.name + "\x00" + f))
			name := "ticketing_gin_" + hex.EncodeToString(sum[:8])
			if have[t.schema+"."+name] {
				continue
			}
			sql := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin ((_jsonb -> '%s') jsonb_path_ops)`,
				pgx.Identifier{name}.Sanitize(), pgx.Identifier{t.schema, t.name}.Sanitize(), strings.ReplaceAll(f, "'", "''"))
			if _, err := conn.Exec(ctx, sql); err != nil {
				return created, fmt.Errorf("postgresql index on %s.%s (%s): %w", t.schema, t.name, f, err)
			}
			created = append(created, t.schema+"."+t.name+" ("+f+")")
		}
	}
	return created, nil
}
