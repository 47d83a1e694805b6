//go:build race

package password

// raceEnabled lets the slowest known-answer vectors skip under the race
// detector, which makes pure-Go bcrypt and PBKDF2 about ten times slower;
// they check arithmetic, not concurrency, and run in every normal test run.
const raceEnabled = true
