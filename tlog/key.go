package tlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"

	"github.com/prov-dev/prov"
	"golang.org/x/mod/sumdb/note"
)

// VerifierKey derives the signed-note verifier key (public) from a signer key
// (PRIVATE+KEY+name+hash+base64), so that an auditor can be given it.
func VerifierKey(skey string) (string, error) {
	if _, err := note.NewSigner(skey); err != nil {
		return "", prov.Errorf(prov.Invalid, "not a signed-note private key: %v", err)
	}
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", prov.Errorf(prov.Invalid, "not an Ed25519 signed-note private key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	return note.NewEd25519VerifierKey(parts[2], priv.Public().(ed25519.PublicKey))
}
