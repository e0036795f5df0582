package sim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func testIdentity() *identity {
	return &identity{
		streamID: "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90", userID: "5c0d8e1a-0000-4000-8000-000000000001",
		callControlID: "v3:sim-1-abc", callSessionID: "a1b2c3d4-1111-2222-3333-444455556666",
		from: "+15550000001", to: "+15550100000", clientState: "e30=",
		params: map[string]string{"sim_script": "a|b"},
	}
}

// decode parses a frame into generic JSON, failing the test on invalid JSON.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return m
}

func TestStartFrameShape(t *testing.T) {
	f := decode(t, appendStart(nil, testIdentity()))
	// docs/protocols/telnyx.md 1.2: sequence_number is a string, stream_id is top level.
	if f["event"] != "start" || f["sequence_number"] != "1" || f["stream_id"] != "9B1F7C2E-4D0A-4E55-8C11-2F6A0D7B3E90" {
		t.Errorf("envelope %v", f)
	}
	st := f["start"].(map[string]any)
	for k, want := range map[string]string{
		"user_id": "5c0d8e1a-0000-4000-8000-000000000001", "call_control_id": "v3:sim-1-abc",
		"call_session_id": "a1b2c3d4-1111-2222-3333-444455556666", "from": "+15550000001", "to": "+15550100000",
		"client_state": "e30=",
	} {
		if st[k] != want {
			t.Errorf("start.%s = %#v, want %q", k, st[k], want)
		}
	}
	if _, ok := st["stream_id"]; ok {
		t.Error("stream_id inside start")
	}
	mf := st["media_format"].(map[string]any)
	if mf["encoding"] != "PCMU" || mf["sample_rate"] != 8000.0 || mf["channels"] != 1.0 {
		t.Errorf("media_format %v: want PCMU, 8000 and 1 as numbers", mf)
	}
	if cp := st["custom_parameters"].(map[string]any); cp["sim_script"] != "a|b" {
		t.Errorf("custom_parameters %v", cp)
	}
	if tags, ok := st["tags"].([]any); !ok || len(tags) == 0 {
		t.Errorf("tags %v", st["tags"])
	}
}

func TestMediaFrameShape(t *testing.T) {
	f := decode(t, appendMedia(nil, "SID", 7, 6, "/////w=="))
	if f["event"] != "media" || f["sequence_number"] != "7" || f["stream_id"] != "SID" {
		t.Errorf("envelope %v", f)
	}
	m := f["media"].(map[string]any)
	// Strings holding integers, timestamp in ms: chunk 6 at 120 ms as in
	// the docs/protocols/telnyx.md 1.3 example.
	if m["track"] != "inbound" || m["chunk"] != "6" || m["timestamp"] != "120" || m["payload"] != "/////w==" {
		t.Errorf("media %v", m)
	}
}

func TestControlFrameShapes(t *testing.T) {
	t.Run("a mark echo carries the name, escaped", func(t *testing.T) {
		name := "utt \"1\"\\\n\x01é"
		f := decode(t, appendMarkEcho(nil, "SID", 40, name))
		if f["event"] != "mark" || f["sequence_number"] != "40" || f["stream_id"] != "SID" {
			t.Errorf("envelope %v", f)
		}
		if got := f["mark"].(map[string]any)["name"]; got != name {
			t.Errorf("name %q, want %q", got, name)
		}
	})
	t.Run("dtmf has occurred_at in RFC 3339 and a digit", func(t *testing.T) {
		at := time.Date(2026, 1, 5, 10, 0, 3, 120_000_000, time.FixedZone("x", 3600))
		f := decode(t, appendDTMF(nil, "SID", 31, at, "1"))
		if f["event"] != "dtmf" || f["sequence_number"] != "31" || f["occurred_at"] != "2026-01-05T09:00:03.12Z" {
			t.Errorf("dtmf %v", f)
		}
		if f["dtmf"].(map[string]any)["digit"] != "1" {
			t.Errorf("digit %v", f["dtmf"])
		}
	})
	t.Run("stop names the call", func(t *testing.T) {
		f := decode(t, appendStop(nil, testIdentity(), 912))
		st := f["stop"].(map[string]any)
		if f["event"] != "stop" || f["sequence_number"] != "912" || f["stream_id"] == nil ||
			st["user_id"] != "5c0d8e1a-0000-4000-8000-000000000001" || st["call_control_id"] != "v3:sim-1-abc" {
			t.Errorf("stop %v", f)
		}
	})
	t.Run("connected is the documented frame", func(t *testing.T) {
		f := decode(t, []byte(connectedFrame))
		if len(f) != 2 || f["event"] != "connected" || f["version"] != "1.0.0" {
			t.Errorf("connected %v", f)
		}
	})
}

func TestCallIdentity(t *testing.T) {
	cfg := Config{BargeIn: 1, DTMF: 1, Transfer: 1}.withDefaults()
	lib, err := loadLibrary(nil, append(cfg.Script, cfg.BargeInText, cfg.TransferText), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := newCall(12, &cfg, lib, &collector{}, 99)
	if !strings.HasPrefix(c.id.callControlID, "v3:sim-12-") || len(c.id.streamID) != 36 ||
		c.id.streamID != strings.ToUpper(c.id.streamID) || !strings.HasPrefix(c.id.from, "+1555") {
		t.Errorf("identity %+v", c.id)
	}
	script := strings.Split(c.id.params["sim_script"], "|")
	if len(script) != 4 || script[len(script)-1] != DefaultTransferText || c.id.params["sim_call"] != "12" {
		t.Errorf("sim_script %q", script)
	}
	again := newCall(12, &cfg, lib, &collector{}, 99)
	if again.id.callControlID != c.id.callControlID || again.id.params["sim_script"] != c.id.params["sim_script"] {
		t.Error("the same seed gave a different call")
	}
	other := newCall(13, &cfg, lib, &collector{}, 99)
	if other.id.userID != c.id.userID || other.id.streamID == c.id.streamID {
		t.Error("calls of a run should share the account and differ in stream")
	}
}
