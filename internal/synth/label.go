package synth

import (
	"bytes"
	"encoding/json"
	"slices"

	"tracewatch"
)

// Label is one planted case: one line of labels.jsonl. The keys identify the case the
// way the evaluation matches clues to it: a clue of the same detector matches when,
// taking the first key kind present on both sides in the order codes, settlements,
// receipts, msgids, persons, the two sets intersect; when no kind is shared, the
// institution must be equal. Empty keys are left out of the JSON.
type Label struct {
	ID          string   `json:"id"`                    // L000001, in the order of the file
	Scenario    string   `json:"scenario"`              // see Scenarios
	Detector    string   `json:"detector"`              // the detector expected to find it
	Severity    string   `json:"severity"`              // expected severity (提示, 可疑, 高度可疑, 明确违规)
	Institution string   `json:"institution,omitempty"` // the institution committing it
	Codes       []string `json:"codes,omitempty"`       // identity keys (tracecode Key)
	Persons     []string `json:"persons,omitempty"`     // psn_no
	Settlements []string `json:"settlements,omitempty"` // setl_id
	Receipts    []string `json:"receipts,omitempty"`    // rtal_docno
	MsgIDs      []string `json:"msgids,omitempty"`      // msgid
	Region      string   `json:"region,omitempty"`      // the region (admdvs) of a region-wide case (upload_outage)
	Day         string   `json:"day,omitempty"`         // yyyy-mm-dd of the (first) planted act
	Note        string   `json:"note,omitempty"`        // what was planted
}

// Scenario is one kind of planted case.
type Scenario struct {
	Name     string // scenario name in labels.jsonl
	Detector string // the detector expected to find it
	Severity tracewatch.Severity
	Claims   bool   // a claims (second-wave) scenario
	Param    string // the JSON name of its rate in Params
}

// The scenarios, in the order of Scenarios.
const (
	scResaleSameCity = iota
	scResaleOtherCity
	scResaleOtherProvince
	scPhotoReuse
	scSubstitutionDrug
	scSubstitutionNonDrug
	scEmptySwipe
	scExpiredSale
	scParentChild
	scStopScanning
	scScanWrongBarcode
	scScanTypo
	scScanLostGS
	scMalformed
	scGender
	scAge
	scOverSupply
	scHighFrequency
	scAfterDeath
	scSuspended
	scSplitStay
	scGang
	scResaleRing
	scResaleRingBox
	scBedHolding
	scPhantomStay
	scImpossibleTravel
	scUploadOutage
	scKeyDrug
	scOverPrice
	nScenarios
)

// Scenarios lists every planted scenario with its detector and expected severity
// (docs/synthetic-data.md describes each).
var Scenarios = []Scenario{
	scResaleSameCity:      {"resale_same_city", "trace.duplicate", tracewatch.SeverityHighlySuspicious, false, "resale_same_city_per_100k"},
	scResaleOtherCity:     {"resale_other_city", "trace.duplicate", tracewatch.SeverityHighlySuspicious, false, "resale_other_city_per_100k"},
	scResaleOtherProvince: {"resale_other_province", "trace.duplicate", tracewatch.SeverityHighlySuspicious, false, "resale_other_province_per_100k"},
	scPhotoReuse:          {"photo_reuse", "trace.duplicate", tracewatch.SeveritySuspicious, false, "photo_reuse_per_100k"},
	scSubstitutionDrug:    {"substitution_drug", "trace.substitution", tracewatch.SeverityHighlySuspicious, false, "substitution_drug_per_100k"},
	scSubstitutionNonDrug: {"substitution_nondrug", "trace.substitution", tracewatch.SeverityHighlySuspicious, false, "substitution_nondrug_per_100k"},
	scEmptySwipe:          {"empty_swipe", "trace.nosource", tracewatch.SeverityHighlySuspicious, false, "empty_swipe_per_100k"},
	scExpiredSale:         {"expired_sale", "trace.anomaly", tracewatch.SeverityHighlySuspicious, false, "expired_sale_per_100k"},
	scParentChild:         {"parent_child_sold", "trace.package", tracewatch.SeverityHighlySuspicious, false, "parent_child_sold_per_100k"},
	scStopScanning:        {"stop_scanning", "trace.collection", tracewatch.SeveritySuspicious, false, "stop_scanning_permille"},
	scScanWrongBarcode:    {"scan_wrong_barcode", "trace.anomaly", tracewatch.SeverityNotice, false, "scan_wrong_barcode_per_100k"},
	scScanTypo:            {"scan_typo", "trace.anomaly", tracewatch.SeverityNotice, false, "scan_typo_per_100k"},
	scScanLostGS:          {"scan_lost_gs", "trace.anomaly", tracewatch.SeverityNotice, false, "scan_lost_gs_per_100k"},
	scMalformed:           {"malformed_message", "ingest.quarantine", tracewatch.SeverityNotice, false, "malformed_message_per_100k"},
	scGender:              {"gender_restricted", "claims.gender", tracewatch.SeverityViolation, true, "gender_restricted_per_100k"},
	scAge:                 {"age_restricted", "claims.age", tracewatch.SeverityViolation, true, "age_restricted_per_100k"},
	scOverSupply:          {"over_supply", "claims.oversupply", tracewatch.SeveritySuspicious, true, "over_supply_per_100k"},
	scHighFrequency:       {"high_frequency", "claims.frequency", tracewatch.SeveritySuspicious, true, "high_frequency_per_100k"},
	scAfterDeath:          {"after_death", "claims.after_death", tracewatch.SeverityViolation, true, "after_death_per_100k"},
	scSuspended:           {"suspended_institution", "claims.suspended", tracewatch.SeverityViolation, true, "suspended_institution_permille"},
	scSplitStay:           {"split_hospitalisation", "claims.split_stay", tracewatch.SeverityHighlySuspicious, true, "split_hospitalisation_per_100k"},
	scGang:                {"gang", "claims.gang", tracewatch.SeveritySuspicious, true, "gang_per_100k"},
	scResaleRing:          {"resale_ring", "claims.resale_ring", tracewatch.SeverityHighlySuspicious, true, "resale_ring_per_100k"},
	scResaleRingBox:       {"resale_ring_box", "trace.duplicate", tracewatch.SeverityHighlySuspicious, false, "resale_ring_per_100k"},
	scBedHolding:          {"bed_holding", "claims.bed_holding", tracewatch.SeveritySuspicious, true, "bed_holding_per_100k"},
	scPhantomStay:         {"phantom_stay", "claims.phantom_stay", tracewatch.SeverityHighlySuspicious, true, "phantom_stay_per_100k"},
	scImpossibleTravel:    {"impossible_travel", "claims.impossible_travel", tracewatch.SeveritySuspicious, true, "impossible_travel_per_100k"},
	scUploadOutage:        {"upload_outage", "trace.access", tracewatch.SeverityNotice, false, "upload_outage_per_100k"},
	scKeyDrug:             {"key_drug_rise", "claims.key_drug", tracewatch.SeveritySuspicious, true, "key_drug_rise_per_100k"},
	scOverPrice:           {"over_price", "claims.over_price", tracewatch.SeverityHighlySuspicious, true, "over_price_per_100k"},
}

// plantLabel is a label while the simulation runs.
type plantLabel struct {
	Label
	sc   int
	t    int64  // time of the first planted act (orders the ids)
	seq  uint64 // creation order (breaks ties)
	need int    // parts needed for the case to stand (0: none)
	got  int    // parts planted
	sev  tracewatch.Severity
}

// encodeLabels renders labels.jsonl.
func encodeLabels(ls []*plantLabel) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, l := range ls {
		if err := enc.Encode(&l.Label); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// finishLabels keeps the cases that stand, orders them by time and numbers them.
func finishLabels(ls []*plantLabel, w *world) []*plantLabel {
	out := make([]*plantLabel, 0, len(ls))
	for _, l := range ls {
		if l.got < l.need {
			continue
		}
		sc := Scenarios[l.sc]
		l.Scenario, l.Detector = sc.Name, sc.Detector
		sev := sc.Severity
		if l.sev != 0 {
			sev = l.sev
		}
		l.Severity = sev.Chinese()
		if l.Day == "" {
			l.Day = string(appendDate(nil, w.o.startDay+int32(l.t/86400)))
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b *plantLabel) int {
		switch {
		case a.t != b.t:
			return cmpInt64(a.t, b.t)
		default:
			return cmpInt64(int64(a.seq), int64(b.seq))
		}
	})
	for i, l := range out {
		l.ID = string(appendPadded([]byte("L"), uint64(i+1), 6))
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
