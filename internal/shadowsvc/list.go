package shadowsvc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/shadow"
)

// MaxPageSize is the largest page ListNamed returns (AWS: 1–100).
const MaxPageSize = 100

// ListNamed returns the names of thing's named shadows that exist, sorted,
// one page at a time: pageSize names (0 means MaxPageSize) after the
// position nextToken names ("" for the first page). next is "" on the last
// page. The classic shadow is never listed and an unknown thing has none
// (reference §1.13).
func (s *Service) ListNamed(ctx context.Context, thing, nextToken string, pageSize int) (names []string, next string, err error) {
	if err := (shadowID{thing: thing}).validate(); err != nil {
		return nil, "", err
	}
	if pageSize == 0 {
		pageSize = MaxPageSize
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return nil, "", &shadow.Error{Code: 400, Message: "pageSize must be between 1 and 100"}
	}
	after := ""
	if nextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(nextToken)
		if err != nil || len(b) == 0 {
			return nil, "", &shadow.Error{Code: 400, Message: "Invalid nextToken"}
		}
		after = string(b)
	}
	keys, err := s.deps.Bucket.Keys(ctx, "s."+kvstore.EncodeToken(thing)+".*")
	if err != nil {
		return nil, "", fmt.Errorf("shadowsvc: list %s: %w", thing, err)
	}
	var all []string
	for _, k := range keys {
		tok := k[strings.LastIndexByte(k, '.')+1:]
		name, err := kvstore.DecodeToken(tok)
		if err != nil || name == "" || name <= after {
			continue
		}
		all = append(all, name)
	}
	slices.Sort(all)
	for _, name := range all {
		ok, err := s.exists(ctx, shadowID{thing, name})
		if err != nil {
			return nil, "", err
		}
		if !ok {
			continue // deleted; its record keeps the version for 48 hours
		}
		if len(names) == pageSize {
			// Another shadow exists after this page: say where to go on.
			return names, base64.RawURLEncoding.EncodeToString([]byte(names[len(names)-1])), nil
		}
		names = append(names, name)
	}
	return names, "", nil
}

// exists reads a shadow from KV (deleted shadows keep a record with their
// version).
func (s *Service) exists(ctx context.Context, id shadowID) (bool, error) {
	e, err := s.deps.Bucket.Get(ctx, storageKey(id))
	if errors.Is(err, kvstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("shadowsvc: list %s: %w", id, err)
	}
	d, err := shadow.Unmarshal(e.Value)
	if err != nil {
		return false, fmt.Errorf("shadowsvc: list %s: %w", id, err)
	}
	return d.Exists(), nil
}
