package schema

import (
	"bytes"
	"encoding/json"
)

// Metadata is a tenant's free-form JSON object. Read back from the jsonb
// column, its numbers stay exact (json.Number): decoded into a plain
// map[string]any they would become float64, so 12345678901234567890 would
// read as 12345678901234567000 and 1.50 as 1.5.
type Metadata map[string]any

// UnmarshalJSON decodes a JSON object into m, keeping numbers as
// json.Number.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*m = v
	return nil
}
