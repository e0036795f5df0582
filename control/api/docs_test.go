package api

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/API.md from the routes")

// TestAPIDocIsCurrent keeps docs/API.md what the routes say: a route added
// or changed without regenerating the reference fails here.
func TestAPIDocIsCurrent(t *testing.T) {
	var got bytes.Buffer
	if err := WriteMarkdown(&got, Document()); err != nil {
		t.Fatal(err)
	}
	const path = "../../docs/API.md"
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./control/api -run TestAPIDocIsCurrent -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatal("docs/API.md is out of date: run go test ./control/api -run TestAPIDocIsCurrent -update")
	}
}
