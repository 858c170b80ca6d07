package sqlmigrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	steps, err := Load(fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
		"m/README":        {Data: []byte("not a step")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Name != "0001_init.sql" || steps[0].SQL != "A" || steps[1].Version != 2 {
		t.Fatalf("steps: %+v", steps)
	}
	if steps[0].Checksum == steps[1].Checksum || len(steps[0].Checksum) != 64 {
		t.Fatalf("checksums: %q %q", steps[0].Checksum, steps[1].Checksum)
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"0003_gap.sql": {"m/0001_a.sql": {}, "m/0003_gap.sql": {}},
		"init.sql":     {"m/init.sql": {}},
		"0000_zero":    {"m/0000_zero.sql": {}},
	} {
		if _, err := Load(fsys, "m"); err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(name, ".sql")) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}

func TestPending(t *testing.T) {
	steps := []Step{{Version: 1, Name: "0001_a.sql", Checksum: "aa"}, {Version: 2, Name: "0002_b.sql", Checksum: "bb"}}
	got, err := Pending([]Applied{{Version: 1, Name: "0001_a.sql", Checksum: "aa"}}, steps, "pkg")
	if err != nil || len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("one applied: %+v, %v", got, err)
	}
	if got, err := Pending([]Applied{{Version: 1, Checksum: ""}, {Version: 2, Checksum: "bb"}}, steps, "pkg"); err != nil || len(got) != 0 {
		t.Fatalf("all applied, one without a checksum: %+v, %v", got, err)
	}
	for name, applied := range map[string][]Applied{
		"differs":    {{Version: 1, Name: "0001_a.sql", Checksum: "xx"}},
		"newer":      {{Version: 1, Checksum: "aa"}, {Version: 2, Checksum: "bb"}, {Version: 3, Name: "0003_c.sql"}},
		"comes next": {{Version: 2, Checksum: "bb"}},
	} {
		if _, err := Pending(applied, steps, "pkg"); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
