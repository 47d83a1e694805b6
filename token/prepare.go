package token

// Prepare checks the configuration and, for a key file, reads and parses
// it, without writing anything: it is what a config load (Provision, and
// so `claimgate validate`) may do, so that a missing key file or a rotation
// below the minimum is refused at load rather than at start. Generated keys
// are created later, by Load, when the app starts.
func (m *Manager) Prepare() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkConfig(); err != nil {
		return err
	}
	if m.cfg.File != "" {
		return m.loadFile()
	}
	return nil
}
