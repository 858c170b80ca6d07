package console

import (
	"net/http"
	"time"
	_ "time/tzdata" // zones load on machines without a zoneinfo database
)

// The viewer's time zone. Pages show dates in the zone the tz query
// parameter names (an IANA name such as Europe/Paris), which is then
// remembered in the tz cookie; without either, in UTC. The page's time
// zone form (filled with the browser's own zone by a line of JavaScript)
// sets the parameter. The API reads tz only from the query, and only to
// place a statement's period=YYYY-MM.

// tzCookie is the cookie that remembers the viewer's time zone.
const tzCookie = "tz"

// queryZone returns the zone the tz query parameter names, or UTC.
func queryZone(r *http.Request) (*time.Location, error) {
	name := r.URL.Query().Get("tz")
	if name == "" {
		return time.UTC, nil
	}
	return loadZone(name)
}

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, badRequest("tz", name, "must be an IANA time zone name, such as Europe/Paris or UTC")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, badRequest("tz", name, "unknown time zone (want an IANA name, such as Europe/Paris or UTC)")
	}
	return loc, nil
}

// viewerZone returns the zone a page is shown in: the tz parameter (and
// remembers it in the cookie), else the cookie's, else UTC. A zone that
// does not load is an error only when the parameter names it; a stale
// cookie is ignored.
func viewerZone(w http.ResponseWriter, r *http.Request) (*time.Location, error) {
	if name := r.URL.Query().Get("tz"); name != "" {
		loc, err := loadZone(name)
		if err != nil {
			return nil, err
		}
		http.SetCookie(w, &http.Cookie{Name: tzCookie, Value: name, Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, HttpOnly: true})
		return loc, nil
	}
	if c, err := r.Cookie(tzCookie); err == nil {
		if loc, err := loadZone(c.Value); err == nil {
			return loc, nil
		}
	}
	return time.UTC, nil
}
