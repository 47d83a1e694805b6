// Package demodb is claimgate's demo database: an in-process
// MySQL-compatible server (go-mysql-server) on a loopback port, seeded with a
// demo schema and users. It is for trying claimgate out and for tests; never
// for production data.
//
// Use package demo, which is this package plus the `dsn embedded`
// registration. This package exists because demo imports store to register
// itself, so store's own tests and store/storetest, which provide databases
// to them, cannot import demo: they import demodb, which depends on no
// claimgate package.
//
// The server keeps everything in memory: the Release that drops its last use
// stops it and forgets every database, and the next Start seeds a fresh one.
// It listens on a loopback port the kernel picks, so only the process that
// started it can reach it.
//
// Logging: the server's sessions log through a logrus logger of their own
// (errors only, on stderr), and the info lines go-mysql-server writes on
// logrus's standard logger for every connection are left out (see
// quietHandler); the standard logger's settings are not touched. What is
// still logged there (errors of the vitess listener, a refused login)
// follows whatever the process configured, by default info level on stderr.
package demodb

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DemoUser is one seeded user, with the clear-text password so tests (and the
// README's quickstart) can log in. The demo accounts are:
//
//	id  email               password                      hash                      notes
//	1   alice@example.test  correct horse battery staple  bcrypt $2a$ cost 10       admin+editor, org_acme, rich metadata
//	2   bob@example.test    hunter2-argon2id              argon2id m=19456,t=2,p=1  editor, org_globex
//	3   carol@example.test  carol-php-bcrypt              bcrypt $2y$ (PHP)         viewer, org_acme+org_globex, email not verified, {} metadata
//	4   dave@example.test   dave-django-pbkdf2            Django pbkdf2_sha256 600000 no roles, no orgs, NULL metadata
//	5   eve@example.test    eve-is-blocked                bcrypt $2b$               blocked column = 1
//	6   frank@example.test  frank-denied-by-rule          bcrypt $2b$               app_metadata {"blocked":true} (for a deny rule)
//
// Alice's app_metadata is {"roles":["admin","editor"],"org_id":"org_acme","plan":"pro"}
// and her user_metadata {"city":"Lisbon","theme":"dark"}.
type DemoUser struct {
	ID            int64 // users.id; the token's sub is its decimal string
	Email         string
	Username      string
	Name          string
	Nickname      string
	Picture       string
	EmailVerified bool
	Password      string // clear text: the demo's documented password
	Scheme        string // "bcrypt", "argon2id" or "pbkdf2_sha256"
	PasswordHash  string
	Blocked       bool
	AppMetadata   string // JSON text; "" means SQL NULL
	UserMetadata  string // JSON text; "" means SQL NULL
	Roles         []string
	Permissions   []string // distinct, sorted: what DemoPermissionsQuery returns
	Orgs          []string // organization ids the user is a member of
}

// DemoUsers are the users DemoStatements inserts, in id order.
var DemoUsers = []DemoUser{
	{
		ID: 1, Email: "alice@example.test", Username: "alice", Name: "Alice Liddell", Nickname: "alice",
		Picture: "https://example.test/avatars/alice.png", EmailVerified: true,
		Password: "correct horse battery staple", Scheme: "bcrypt",
		PasswordHash: "$2a$10$DcW5ki4dtNJjHlvunKQpTe/j8JwmXI4dfBsarOAsTLEagnz8YShc6",
		AppMetadata:  `{"roles":["admin","editor"],"org_id":"org_acme","plan":"pro"}`,
		UserMetadata: `{"city":"Lisbon","theme":"dark"}`,
		Roles:        []string{"admin", "editor"},
		Permissions:  []string{"delete:orders", "read:orders", "read:reports", "write:orders"},
		Orgs:         []string{"org_acme"},
	},
	{
		ID: 2, Email: "bob@example.test", Username: "bob", Name: "Bob Martins", Nickname: "bob",
		Picture: "https://example.test/avatars/bob.png", EmailVerified: true,
		Password: "hunter2-argon2id", Scheme: "argon2id",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$0CxO+9Y+WRioWSE7uc0PTw$taHIs4oTDMuupI9Bp1huvbEFqW5ksLBdgmg7La0cC9Y",
		AppMetadata:  `{"roles":["editor"],"org_id":"org_globex","plan":"free"}`,
		UserMetadata: `{"city":"Porto"}`,
		Roles:        []string{"editor"},
		Permissions:  []string{"read:orders", "write:orders"},
		Orgs:         []string{"org_globex"},
	},
	{
		ID: 3, Email: "carol@example.test", Username: "carol", Name: "Carol Chen", Nickname: "carol",
		Picture: "https://example.test/avatars/carol.png", EmailVerified: false,
		Password: "carol-php-bcrypt", Scheme: "bcrypt",
		PasswordHash: "$2y$10$9ikDkyhzoGxKZOYFdNJhd.DfisRANiqIUSPXMxRp0HQjEySfqdy7S",
		AppMetadata:  `{}`,
		UserMetadata: `{}`,
		Roles:        []string{"viewer"},
		Permissions:  []string{"read:orders"},
		Orgs:         []string{"org_acme", "org_globex"},
	},
	{
		ID: 4, Email: "dave@example.test", Username: "dave", Name: "Dave Diaz", Nickname: "dave",
		Picture: "https://example.test/avatars/dave.png", EmailVerified: true,
		Password: "dave-django-pbkdf2", Scheme: "pbkdf2_sha256",
		PasswordHash: "pbkdf2_sha256$600000$OCJpIVOqMSXS2uguwMUl1t$rWeiU4b0iVA7kDDyVSt4k0MhzXOjfnvAWFHgl/zRHNE=",
	},
	{
		ID: 5, Email: "eve@example.test", Username: "eve", Name: "Eve Evans", Nickname: "eve",
		Picture: "https://example.test/avatars/eve.png", EmailVerified: true,
		Password: "eve-is-blocked", Scheme: "bcrypt",
		PasswordHash: "$2b$10$1bRhXEbSv.aw1ts1ZI9QK.9vnSEwkP59iLUBW/X6umPSrOKJxu4fq",
		Blocked:      true,
		AppMetadata:  `{"plan":"free"}`,
		UserMetadata: `{"city":"Berlin"}`,
		Roles:        []string{"viewer"},
		Permissions:  []string{"read:orders"},
		Orgs:         []string{"org_acme"},
	},
	{
		ID: 6, Email: "frank@example.test", Username: "frank", Name: "Frank Fischer", Nickname: "frank",
		Picture: "https://example.test/avatars/frank.png", EmailVerified: true,
		Password: "frank-denied-by-rule", Scheme: "bcrypt",
		PasswordHash: "$2b$10$RoW5TdYffQymIoBrMSFt8uYlD1dtgVkyIwI2QeQFK1rdvcjv/nr7m",
		AppMetadata:  `{"blocked":true,"plan":"free"}`,
		UserMetadata: `{"city":"Lisbon"}`,
		Roles:        []string{"viewer"},
		Permissions:  []string{"read:orders"},
		Orgs:         []string{"org_globex"},
	},
}

// Demo roles, permissions and organizations, by id (ids start at 1).
var (
	demoRoles       = []string{"admin", "editor", "viewer"}
	demoPermissions = []string{"read:orders", "write:orders", "delete:orders", "read:reports"}
	// rolePermissions maps a role to its permissions.
	rolePermissions = map[string][]string{
		"admin":  {"read:orders", "write:orders", "delete:orders", "read:reports"},
		"editor": {"read:orders", "write:orders"},
		"viewer": {"read:orders"},
	}
	// DemoOrganizations maps the organization ids to their names.
	DemoOrganizations = map[string]string{"org_acme": "Acme Corp", "org_globex": "Globex Corporation"}
)

// Queries that fit the demo schema, as a Caddyfile's database block would
// configure them.
const (
	DemoUserQuery = "SELECT id AS user_id, email, email_verified, username, name, nickname, picture, " +
		"password_hash, blocked, app_metadata, user_metadata FROM users WHERE email = ?"
	DemoRolesQuery       = "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name"
	DemoPermissionsQuery = "SELECT DISTINCT p.name FROM user_roles ur " +
		"JOIN role_permissions rp ON rp.role_id = ur.role_id " +
		"JOIN permissions p ON p.id = rp.permission_id WHERE ur.user_id = ? ORDER BY p.name"
	DemoOrganizationQuery = "SELECT o.id AS org_id, o.name AS org_name FROM members m " +
		"JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ? AND o.id = ?"
	// DemoRehashQuery takes the new hash, the user_id and the hash the
	// login verified, so that it never overwrites a password changed since.
	DemoRehashQuery = "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"
)

// schema creates the demo tables. `orgs` is a view on organizations so that
// the specification's example organization_query (testdata/spec_example,
// which joins `orgs`) works as is.
var schema = []string{
	`CREATE TABLE users (
	id INT NOT NULL AUTO_INCREMENT,
	email VARCHAR(255) NOT NULL,
	email_verified TINYINT(1) NOT NULL DEFAULT 0,
	username VARCHAR(64) NULL,
	name VARCHAR(255) NULL,
	nickname VARCHAR(64) NULL,
	picture VARCHAR(512) NULL,
	password_hash VARCHAR(255) NOT NULL,
	blocked TINYINT(1) NOT NULL DEFAULT 0,
	app_metadata JSON NULL,
	user_metadata JSON NULL,
	created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id),
	UNIQUE KEY users_email (email),
	UNIQUE KEY users_username (username)
)`,
	`CREATE TABLE roles (
	id INT NOT NULL AUTO_INCREMENT,
	name VARCHAR(64) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY roles_name (name)
)`,
	`CREATE TABLE user_roles (
	user_id INT NOT NULL,
	role_id INT NOT NULL,
	PRIMARY KEY (user_id, role_id),
	KEY user_roles_role (role_id),
	CONSTRAINT user_roles_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT user_roles_role_fk FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE
)`,
	`CREATE TABLE permissions (
	id INT NOT NULL AUTO_INCREMENT,
	name VARCHAR(128) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY permissions_name (name)
)`,
	`CREATE TABLE role_permissions (
	role_id INT NOT NULL,
	permission_id INT NOT NULL,
	PRIMARY KEY (role_id, permission_id),
	KEY role_permissions_permission (permission_id),
	CONSTRAINT role_permissions_role_fk FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE,
	CONSTRAINT role_permissions_permission_fk FOREIGN KEY (permission_id) REFERENCES permissions (id) ON DELETE CASCADE
)`,
	`CREATE TABLE organizations (
	id VARCHAR(64) NOT NULL,
	name VARCHAR(255) NOT NULL,
	PRIMARY KEY (id)
)`,
	`CREATE TABLE members (
	user_id INT NOT NULL,
	org_id VARCHAR(64) NOT NULL,
	PRIMARY KEY (user_id, org_id),
	KEY members_org (org_id),
	CONSTRAINT members_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT members_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
)`,
	`CREATE VIEW orgs AS SELECT id, name FROM organizations`,
}

// DemoStatements returns the SQL statements (one per element, no trailing
// semicolon) that create and fill the demo tables in the current database.
// They run on MariaDB/MySQL as well as on the embedded server, so tests can
// seed either.
func DemoStatements() []string {
	stmts := append([]string(nil), schema...)
	return append(stmts, inserts()...)
}

// inserts builds the INSERT statements from the Go tables above, so that
// DemoUsers and the seeded rows cannot drift apart.
func inserts() []string {
	roleID := indexIDs(demoRoles)
	permID := indexIDs(demoPermissions)

	var users, userRoles, members []string
	for _, u := range DemoUsers {
		users = append(users, fmt.Sprintf("(%d, %s, %d, %s, %s, %s, %s, %s, %d, %s, %s, '2024-01-%02d 09:30:00', '2024-01-%02d 09:30:00')",
			u.ID, quote(u.Email), b2i(u.EmailVerified), quote(u.Username), quote(u.Name), quote(u.Nickname),
			quote(u.Picture), quote(u.PasswordHash), b2i(u.Blocked), nullable(u.AppMetadata), nullable(u.UserMetadata),
			u.ID+10, u.ID+10))
		for _, r := range u.Roles {
			userRoles = append(userRoles, fmt.Sprintf("(%d, %d)", u.ID, roleID[r]))
		}
		for _, o := range u.Orgs {
			members = append(members, fmt.Sprintf("(%d, %s)", u.ID, quote(o)))
		}
	}
	var roles, perms, rolePerms, orgs []string
	for i, r := range demoRoles {
		roles = append(roles, fmt.Sprintf("(%d, %s)", i+1, quote(r)))
		for _, p := range rolePermissions[r] {
			rolePerms = append(rolePerms, fmt.Sprintf("(%d, %d)", i+1, permID[p]))
		}
	}
	for i, p := range demoPermissions {
		perms = append(perms, fmt.Sprintf("(%d, %s)", i+1, quote(p)))
	}
	for _, id := range slices.Sorted(maps.Keys(DemoOrganizations)) {
		orgs = append(orgs, fmt.Sprintf("(%s, %s)", quote(id), quote(DemoOrganizations[id])))
	}
	return []string{
		"INSERT INTO users (id, email, email_verified, username, name, nickname, picture, password_hash, blocked, " +
			"app_metadata, user_metadata, created_at, updated_at) VALUES\n" + strings.Join(users, ",\n"),
		"INSERT INTO roles (id, name) VALUES " + strings.Join(roles, ", "),
		"INSERT INTO permissions (id, name) VALUES " + strings.Join(perms, ", "),
		"INSERT INTO role_permissions (role_id, permission_id) VALUES " + strings.Join(rolePerms, ", "),
		"INSERT INTO organizations (id, name) VALUES " + strings.Join(orgs, ", "),
		"INSERT INTO user_roles (user_id, role_id) VALUES " + strings.Join(userRoles, ", "),
		"INSERT INTO members (user_id, org_id) VALUES " + strings.Join(members, ", "),
	}
}

func indexIDs(names []string) map[string]int {
	ids := make(map[string]int, len(names))
	for i, n := range names {
		ids[n] = i + 1
	}
	return ids
}

// quote renders s as a SQL string literal. The demo data has no backslash
// (TestDemoDataIsPlain checks), so doubling quotes is correct under every
// sql_mode, NO_BACKSLASH_ESCAPES included.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func nullable(s string) string {
	if s == "" {
		return "NULL"
	}
	return quote(s)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
