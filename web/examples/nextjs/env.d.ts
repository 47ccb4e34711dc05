// Next's ambient types (CSS imports, images), so `tsc --noEmit` works on a
// fresh clone before next build has written next-env.d.ts (ignored by git).
/// <reference types="next" />
/// <reference types="next/image-types/global" />
