package database

import (
	"testing"
	"time"
)

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/16B3748": 0x16B3748, "16/B374D848": 0x16<<32 | 0xB374D848, "FFFFFFFF/FFFFFFFF": 1<<64 - 1} {
		if got, ok := parseLSN(in); !ok || got != want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "16", "x/1", "1/x", "100000000/0"} {
		if _, ok := parseLSN(bad); ok {
			t.Errorf("parseLSN(%q) accepted", bad)
		}
	}
}

// The lag is the age of the newest probe of the primary's WAL position
// the replica has replayed: 0 when it has replayed the latest, at least
// the age of the oldest kept when it is behind all of them, unknown
// without any.
func TestReplicaLag(t *testing.T) {
	now := time.Now()
	r := newReplica(nil, nil, nil, nil, 2*time.Second, 200*time.Millisecond)
	if _, known := r.lagLocked(now, 100); known {
		t.Fatal("lag known without a sample of the primary")
	}
	r.samples = []lsnSample{{now.Add(-3 * time.Second), 100}, {now.Add(-time.Second), 200}, {now.Add(-100 * time.Millisecond), 300}}
	for replayed, want := range map[uint64]time.Duration{
		300: 0, 350: 0, // has everything of the latest probe
		299: time.Second, 200: time.Second, // the probe a second ago
		150: 3 * time.Second, 100: 3 * time.Second,
		50: 3 * time.Second, // behind every kept sample: at least the oldest
	} {
		if got, known := r.lagLocked(now, replayed); !known || got != want {
			t.Errorf("replayed %d: lag %s (known %v), want %s", replayed, got, known, want)
		}
	}
	r.pruneLocked(now) // keeps max lag + 2 intervals = 2.4s: the 3s-old sample goes
	if len(r.samples) != 2 || r.samples[0].lsn != 200 {
		t.Fatalf("after pruning: %+v", r.samples)
	}
	r.pruneLocked(now.Add(time.Hour)) // at least one stays
	if len(r.samples) != 1 || r.samples[0].lsn != 300 {
		t.Fatalf("after pruning everything: %+v", r.samples)
	}
}
