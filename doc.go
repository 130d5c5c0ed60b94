// Package tracewatch is the domain vocabulary of tracewatch (码上哨兵), the platform that
// guards the medical-insurance fund (医保基金) with drug traceability codes: the error
// model, severities, regions and money. It imports only the standard library; every
// other package may import it. See docs/architecture.md and docs/glossary.md.
package tracewatch
