package registrytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Latest asks the registry at base, over HTTP as any client would, for the latest version
// of subject: its schema ID and schema.
func Latest(base, subject string) (id int, schema string, err error) {
	var out struct {
		ID     int    `json:"id"`
		Schema string `json:"schema"`
	}
	err = get(base+"/subjects/"+subject+"/versions/latest", &out)
	return out.ID, out.Schema, err
}

// SchemaByID asks the registry at base for the schema of id, as AvroConfluent readers do.
func SchemaByID(base string, id int) (string, error) {
	var out struct {
		Schema string `json:"schema"`
	}
	err := get(fmt.Sprintf("%s/schemas/ids/%d", base, id), &out)
	return out.Schema, err
}

// Compatibility asks the registry at base for the compatibility level of subject.
func Compatibility(base, subject string) (string, error) {
	var out struct {
		Level string `json:"compatibilityLevel"`
	}
	err := get(base+"/config/"+subject, &out)
	return out.Level, err
}

func get(url string, out any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
