package store

import "log/slog"

// PhoneNumber is an E.164 number or SIP URI. It masks itself in logs: a phone
// number is personal data and never appears whole at info level.
type PhoneNumber string

// LogValue shows the first three and the last two characters only.
func (p PhoneNumber) LogValue() slog.Value {
	return slog.StringValue(Mask(string(p)))
}

// Mask hides the middle of s: "+15551230001" becomes "+15*******01".
func Mask(s string) string {
	if len(s) <= 5 {
		return "***"
	}
	b := []byte(s)
	for i := 3; i < len(b)-2; i++ {
		b[i] = '*'
	}
	return string(b)
}
