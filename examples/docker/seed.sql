-- claimgate demo schema and users, for examples/docker-compose.yml.
-- Generated from demo.DemoStatements by
--   go test ./examples -run TestSeedSQL -update
-- The demo passwords are listed in demo/demodb/demo.go and the README.

CREATE TABLE users (
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
);

CREATE TABLE roles (
	id INT NOT NULL AUTO_INCREMENT,
	name VARCHAR(64) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY roles_name (name)
);

CREATE TABLE user_roles (
	user_id INT NOT NULL,
	role_id INT NOT NULL,
	PRIMARY KEY (user_id, role_id),
	KEY user_roles_role (role_id),
	CONSTRAINT user_roles_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT user_roles_role_fk FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE
);

CREATE TABLE permissions (
	id INT NOT NULL AUTO_INCREMENT,
	name VARCHAR(128) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY permissions_name (name)
);

CREATE TABLE role_permissions (
	role_id INT NOT NULL,
	permission_id INT NOT NULL,
	PRIMARY KEY (role_id, permission_id),
	KEY role_permissions_permission (permission_id),
	CONSTRAINT role_permissions_role_fk FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE,
	CONSTRAINT role_permissions_permission_fk FOREIGN KEY (permission_id) REFERENCES permissions (id) ON DELETE CASCADE
);

CREATE TABLE organizations (
	id VARCHAR(64) NOT NULL,
	name VARCHAR(255) NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE members (
	user_id INT NOT NULL,
	org_id VARCHAR(64) NOT NULL,
	PRIMARY KEY (user_id, org_id),
	KEY members_org (org_id),
	CONSTRAINT members_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT members_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE VIEW orgs AS SELECT id, name FROM organizations;

INSERT INTO users (id, email, email_verified, username, name, nickname, picture, password_hash, blocked, app_metadata, user_metadata, created_at, updated_at) VALUES
(1, 'alice@example.test', 1, 'alice', 'Alice Liddell', 'alice', 'https://example.test/avatars/alice.png', '$2a$10$DcW5ki4dtNJjHlvunKQpTe/j8JwmXI4dfBsarOAsTLEagnz8YShc6', 0, '{"roles":["admin","editor"],"org_id":"org_acme","plan":"pro"}', '{"city":"Lisbon","theme":"dark"}', '2024-01-11 09:30:00', '2024-01-11 09:30:00'),
(2, 'bob@example.test', 1, 'bob', 'Bob Martins', 'bob', 'https://example.test/avatars/bob.png', '$argon2id$v=19$m=19456,t=2,p=1$0CxO+9Y+WRioWSE7uc0PTw$taHIs4oTDMuupI9Bp1huvbEFqW5ksLBdgmg7La0cC9Y', 0, '{"roles":["editor"],"org_id":"org_globex","plan":"free"}', '{"city":"Porto"}', '2024-01-12 09:30:00', '2024-01-12 09:30:00'),
(3, 'carol@example.test', 0, 'carol', 'Carol Chen', 'carol', 'https://example.test/avatars/carol.png', '$2y$10$9ikDkyhzoGxKZOYFdNJhd.DfisRANiqIUSPXMxRp0HQjEySfqdy7S', 0, '{}', '{}', '2024-01-13 09:30:00', '2024-01-13 09:30:00'),
(4, 'dave@example.test', 1, 'dave', 'Dave Diaz', 'dave', 'https://example.test/avatars/dave.png', 'pbkdf2_sha256$600000$OCJpIVOqMSXS2uguwMUl1t$rWeiU4b0iVA7kDDyVSt4k0MhzXOjfnvAWFHgl/zRHNE=', 0, NULL, NULL, '2024-01-14 09:30:00', '2024-01-14 09:30:00'),
(5, 'eve@example.test', 1, 'eve', 'Eve Evans', 'eve', 'https://example.test/avatars/eve.png', '$2b$10$1bRhXEbSv.aw1ts1ZI9QK.9vnSEwkP59iLUBW/X6umPSrOKJxu4fq', 1, '{"plan":"free"}', '{"city":"Berlin"}', '2024-01-15 09:30:00', '2024-01-15 09:30:00'),
(6, 'frank@example.test', 1, 'frank', 'Frank Fischer', 'frank', 'https://example.test/avatars/frank.png', '$2b$10$RoW5TdYffQymIoBrMSFt8uYlD1dtgVkyIwI2QeQFK1rdvcjv/nr7m', 0, '{"blocked":true,"plan":"free"}', '{"city":"Lisbon"}', '2024-01-16 09:30:00', '2024-01-16 09:30:00');

INSERT INTO roles (id, name) VALUES (1, 'admin'), (2, 'editor'), (3, 'viewer');

INSERT INTO permissions (id, name) VALUES (1, 'read:orders'), (2, 'write:orders'), (3, 'delete:orders'), (4, 'read:reports');

INSERT INTO role_permissions (role_id, permission_id) VALUES (1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (3, 1);

INSERT INTO organizations (id, name) VALUES ('org_acme', 'Acme Corp'), ('org_globex', 'Globex Corporation');

INSERT INTO user_roles (user_id, role_id) VALUES (1, 1), (1, 2), (2, 2), (3, 3), (5, 3), (6, 3);

INSERT INTO members (user_id, org_id) VALUES (1, 'org_acme'), (2, 'org_globex'), (3, 'org_acme'), (3, 'org_globex'), (5, 'org_acme'), (6, 'org_globex');

