package tracecode

import "testing"

// Parse throughput by kind; docs/BENCHMARKS.md records the figures.
func BenchmarkParse(b *testing.B) {
	cases := []struct{ name, in string }{
		{"nmpa20", "83857930000879766660"},
		{"nmpa20_spaced", "8385793 0000879766660"},
		{"nmpa20_fullwidth", "８３８５７９３０００００８７９７６６６０"},
		{"gs1_aim_gs", "]d2010690487900012021ABC123\x1d17250100"},
		{"gs1_bracketed", "(01)06904879000120(17)250100(10)B2501(21)ABC123"},
		{"gs1_digital_link", "https://id.example.com/01/06904879000120/21/ABC123?17=250100"},
		{"ma", "MA.156.M0.100043.1002300.S20240501"},
		{"enterprise", "ABC-2024-000123"},
		{"err_commodity_gtin13", "6901234567892"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				Parse(c.in)
			}
		})
	}
}
