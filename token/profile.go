package token

// TypeAccessToken is the header typ of access tokens (RFC 9068): a resource
// server refuses other types, so an ID token cannot pass for an access token.
const TypeAccessToken = "at+jwt"
