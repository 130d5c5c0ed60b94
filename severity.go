package tracewatch

import "fmt"

// Severity grades a clue (疑点线索), from a data-quality notice to a clear violation.
type Severity uint8

// The severities, in increasing order.
const (
	SeverityNotice           Severity = iota + 1 // 提示: data quality or a process error
	SeveritySuspicious                           // 可疑
	SeverityHighlySuspicious                     // 高度可疑
	SeverityViolation                            // 明确违规
)

var severityNames = [...][2]string{
	{"", ""},
	{"notice", "提示"},
	{"suspicious", "可疑"},
	{"highly_suspicious", "高度可疑"},
	{"violation", "明确违规"},
}

// String returns the stable English name used in JSON and on the command line.
func (s Severity) String() string {
	if s > 0 && int(s) < len(severityNames) {
		return severityNames[s][0]
	}
	return fmt.Sprintf("severity(%d)", s)
}

// Chinese returns the name inspectors read (提示, 可疑, 高度可疑, 明确违规).
func (s Severity) Chinese() string {
	if s > 0 && int(s) < len(severityNames) {
		return severityNames[s][1]
	}
	return s.String()
}

// ParseSeverity accepts the English or the Chinese name.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && (n[0] == name || n[1] == name) {
			return Severity(i), nil
		}
	}
	return 0, Errorf("tracewatch.ParseSeverity", KindInvalid, "unknown severity %q (want notice, suspicious, highly_suspicious or violation)", name)
}

// MarshalText writes the English name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the English or the Chinese name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
