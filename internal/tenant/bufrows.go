package tenant

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// bufferedRows are the rows of a pipelined query, read into memory as the
// driver.Values pgx's database/sql driver would have produced, and scanned
// the way database/sql scans them (sql.Scanner destinations get the value
// as is; the usual pointers are converted through the sql.Null types). It
// implements entsql.ColumnScanner.
type bufferedRows struct {
	cols []string
	rows [][]driver.Value
	cur  int // 1-based index of the current row
}

// readRows reads every row of r (while the connection is held) and closes r.
func readRows(r pgx.Rows) (*bufferedRows, error) {
	defer r.Close()
	fds := r.FieldDescriptions()
	m := r.Conn().TypeMap()
	b := &bufferedRows{cols: make([]string, len(fds))}
	decode := make([]func([]byte) (driver.Value, error), len(fds))
	for i, fd := range fds {
		b.cols[i] = fd.Name
		decode[i] = valueFunc(m, fd.DataTypeOID, fd.Format)
	}
	for r.Next() {
		raw := r.RawValues()
		row := make([]driver.Value, len(raw))
		for i, src := range raw {
			if src == nil {
				continue
			}
			v, err := decode[i](src)
			if err != nil {
				return nil, fmt.Errorf("tenant: column %s: %w", b.cols[i], err)
			}
			row[i] = v
		}
		b.rows = append(b.rows, row)
	}
	return b, r.Err()
}

// valueFunc decodes one column as pgx's stdlib driver does.
func valueFunc(m *pgtype.Map, oid uint32, format int16) func([]byte) (driver.Value, error) {
	scan := func(dst any, out func() (driver.Value, error)) func([]byte) (driver.Value, error) {
		plan := m.PlanScan(oid, format, dst)
		return func(src []byte) (driver.Value, error) {
			if err := plan.Scan(src, dst); err != nil {
				return nil, err
			}
			return out()
		}
	}
	switch oid {
	case pgtype.BoolOID:
		var d bool
		return scan(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
		var d []byte
		return scan(&d, func() (driver.Value, error) { return append([]byte(nil), d...), nil })
	case pgtype.Float4OID:
		var d float32
		return scan(&d, func() (driver.Value, error) { return float64(d), nil })
	case pgtype.Float8OID:
		var d float64
		return scan(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.Int2OID:
		var d int16
		return scan(&d, func() (driver.Value, error) { return int64(d), nil })
	case pgtype.Int4OID:
		var d int32
		return scan(&d, func() (driver.Value, error) { return int64(d), nil })
	case pgtype.Int8OID:
		var d int64
		return scan(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.DateOID:
		var d pgtype.Date
		return scan(&d, func() (driver.Value, error) { return d.Value() })
	case pgtype.TimestampOID:
		var d pgtype.Timestamp
		return scan(&d, func() (driver.Value, error) { return d.Value() })
	case pgtype.TimestamptzOID:
		var d pgtype.Timestamptz
		return scan(&d, func() (driver.Value, error) { return d.Value() })
	default:
		var d string
		return scan(&d, func() (driver.Value, error) { return d, nil })
	}
}

func (b *bufferedRows) Close() error        { b.cur = len(b.rows) + 1; return nil }
func (b *bufferedRows) Err() error          { return nil }
func (b *bufferedRows) Next() bool          { b.cur++; return b.cur <= len(b.rows) }
func (b *bufferedRows) NextResultSet() bool { return false }

// Columns returns the column names.
func (b *bufferedRows) Columns() ([]string, error) { return b.cols, nil }

// ColumnTypes is not available for buffered rows (ent then scans into any).
func (b *bufferedRows) ColumnTypes() ([]*sql.ColumnType, error) {
	return nil, errors.New("tenant: column types are not available on pipelined rows")
}

// Scan copies the current row into dest.
func (b *bufferedRows) Scan(dest ...any) error {
	if b.cur < 1 || b.cur > len(b.rows) {
		return errors.New("tenant: Scan called without a current row")
	}
	row := b.rows[b.cur-1]
	if len(dest) != len(row) {
		return fmt.Errorf("tenant: expected %d destination arguments in Scan, not %d", len(row), len(dest))
	}
	for i, d := range dest {
		if err := assign(d, row[i]); err != nil {
			return fmt.Errorf("tenant: scanning column %s: %w", b.cols[i], err)
		}
	}
	return nil
}

// assign stores v in dest like database/sql's Rows.Scan does for the
// destinations ent uses.
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *any:
		*d = v
		return nil
	case *[]byte:
		switch s := v.(type) {
		case nil:
			*d = nil
		case []byte:
			*d = append([]byte(nil), s...)
		case string:
			*d = []byte(s)
		default:
			return fmt.Errorf("cannot scan %T into *[]byte", v)
		}
		return nil
	}
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	e := rv.Elem()
	if v == nil {
		return fmt.Errorf("cannot scan NULL into %T", dest)
	}
	var n scanValue
	switch e.Kind() {
	case reflect.String:
		var s sql.NullString
		n = &s
		defer func() { e.SetString(s.String) }()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var s sql.NullInt64
		n = &s
		defer func() { e.SetInt(s.Int64) }()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var s sql.NullInt64
		n = &s
		defer func() { e.SetUint(uint64(s.Int64)) }()
	case reflect.Float32, reflect.Float64:
		var s sql.NullFloat64
		n = &s
		defer func() { e.SetFloat(s.Float64) }()
	case reflect.Bool:
		var s sql.NullBool
		n = &s
		defer func() { e.SetBool(s.Bool) }()
	case reflect.Struct:
		if e.Type() != reflect.TypeOf(time.Time{}) {
			return fmt.Errorf("cannot scan %T into %T", v, dest)
		}
		var s sql.NullTime
		n = &s
		defer func() { e.Set(reflect.ValueOf(s.Time)) }()
	default:
		return fmt.Errorf("cannot scan %T into %T", v, dest)
	}
	return n.Scan(v)
}

type scanValue interface{ Scan(any) error }
