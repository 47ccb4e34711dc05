// Package client is Rallypoint's Go game client: it dials the game
// WebSocket, performs the Hello/Welcome handshake, sends inputs, applies
// every snapshot to a local mirror of the world, predicts the player's own
// avatar, interpolates the other entities for drawing, measures round-trip
// time from input acknowledgements, and resumes a held seat after a drop
// (by hand with Resume, or by itself with WithAutoReconnect).
//
// Headless bots and the integration tests use it; it shares only the wire
// package (and the game rules' movement function) with the server.
//
// # Dialing
//
// Dial takes the ws_url the lobby hands out: ws://host:port/v1/ws?match=ID,
// or wss:// behind TLS. A URL without a port dials 80 (ws) or 443 (wss);
// IPv6 literals are written in brackets (ws://[::1]:8080/v1/ws). TLS uses
// the system roots unless WithTLSConfig says otherwise (the config is
// cloned; an empty ServerName becomes the URL's host). WithDialer opens
// the underlying connection another way, e.g. through a SOCKS5 proxy:
//
//	d, _ := proxy.SOCKS5("tcp", "127.0.0.1:1080", nil, proxy.Direct)
//	c, err := client.Dial(ctx, "wss://play.example.com/v1/ws?match=m1", token,
//		client.WithDialer(d.(proxy.ContextDialer)),
//		client.WithTLSConfig(&tls.Config{RootCAs: pool}))
//
// Dial, the handshake and the TLS handshake are bounded by ctx and by
// WithHandshakeTimeout.
//
// # Inputs and prediction
//
// One input is one tick of movement: send exactly one per server tick
// (Welcome().Hz), from a fixed-step loop on your own clock, not one per
// rendered frame. The server applies them in seq order, one per tick, and
// each Snapshot says, in AckSeq, the last one it applied. The client keeps
// the inputs sent but not applied yet (at most 128) and Predicted replays
// them through the mode's movement function (game.Mode.Move) on top of the
// avatar's position in the latest snapshot: the player sees its own moves
// at once, and with inputs arriving in time the server's later answer is
// bit for bit what was predicted, however late each input arrives (the
// server waits for it rather than guessing). Stats.Corrections counts the
// times it was not: an input the server refused or lost, or the rules
// moving the avatar some other way; a dead avatar is not predicted to move,
// and a respawn is no correction. After a resume,
// inputs up to Welcome().LastSeq are still applied by the server and stay
// in the prediction; later ones were lost and are dropped.
//
// # Interpolation
//
// Other entities are drawn a little in the past, between two snapshots the
// client already has, so they move smoothly whatever the network does:
// RenderTick is the server tick estimated from snapshot arrival times
// minus an interpolation delay of about three snapshot intervals, which
// grows at once when snapshots arrive late and shrinks back slowly.
// Interpolated returns the world to draw at a given time, reusing the
// caller's slice (no allocation per frame); a respawn jumps instead of
// gliding across the map (WithTeleportDistance makes long moves jump
// too). Every input carries the render tick it was made at (ViewTick,
// ViewFrac), so the server judges the player's shots against where the
// targets were drawn.
//
// A render loop:
//
//	var world []game.Entity
//	for frame := range frames { // e.g. 60 times a second
//		world = c.Interpolated(world[:0], time.Now())
//		draw(world)
//	}
//	// and, on a ticker at Welcome().Hz:
//	c.SendInput(game.Input{DX: stickX, DY: stickY, Aim: aim, Buttons: buttons})
package client
