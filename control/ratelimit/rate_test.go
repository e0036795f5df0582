package ratelimit

import "testing"

func TestGCRA(t *testing.T) {
	const interval, burst = 10, 3
	tests := []struct {
		name     string
		now, tat int64
		ok       bool
		next     int64
		wait     int64
	}{
		{"a fresh key passes and owes one interval", 100, 0, true, 110, 0},
		{"an idle key is as fresh as a new one", 100, 50, true, 110, 0},
		{"the third event of a burst passes", 100, 120, true, 130, 0},
		{"the fourth event of a burst waits one interval", 100, 130, false, 130, 10},
		{"after one interval it passes again", 110, 130, true, 140, 0},
		{"far behind, the wait is until the burst window opens", 100, 150, false, 150, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, next, wait := gcra(tc.now, tc.tat, interval, burst)
			if ok != tc.ok || next != tc.next || wait != tc.wait {
				t.Errorf("gcra(%d, %d) = %v, %d, %d; want %v, %d, %d", tc.now, tc.tat, ok, next, wait, tc.ok, tc.next, tc.wait)
			}
		})
	}
}

func TestGCRARefund(t *testing.T) {
	const interval = 10
	tests := []struct {
		name     string
		now, tat int64
		next     int64
		fresh    bool
	}{
		{"one owed event of three is given back", 100, 130, 120, false},
		{"the last owed event leaves the key fresh", 100, 110, 100, true},
		{"part of an interval owed: fresh", 100, 105, 100, true},
		{"an idle key stays fresh", 100, 50, 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, fresh := gcraRefund(tc.now, tc.tat, interval)
			if next != tc.next || fresh != tc.fresh {
				t.Errorf("gcraRefund(%d, %d) = %d, %v; want %d, %v", tc.now, tc.tat, next, fresh, tc.next, tc.fresh)
			}
		})
	}
}

func TestRateValidate(t *testing.T) {
	for _, r := range []Rate{{}, {N: 1}, {Per: 1}, {N: 1, Per: 1}, {N: 1, Per: 1e9, Burst: -1}} {
		if r.Validate() == nil {
			t.Errorf("%+v: valid, want an error", r)
		}
	}
	if err := PerMinute(60).Validate(); err != nil {
		t.Errorf("60 a minute: %v", err)
	}
}
