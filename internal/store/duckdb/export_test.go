package duckdb

// FailApplyOf makes every batch holding a message with this msgid fail to apply (the
// storetest.FailureInjector of the conformance suite).
func (s *Store) FailApplyOf(msgid string) {
	s.writer.failApply.Store(msgid, true)
	s.writer.hooked.Store(true)
}

// Exec runs a statement on the store's database (tests that damage derived tables).
func (s *Store) Exec(q string) error {
	_, err := s.db.Exec(q)
	return err
}
