// FFmpeg's demuxers, decoders and scaler (Debian's libavformat, libavcodec, libswscale, libavutil), for
// decoding the KTH videos. The inline helpers stand in for what Swift cannot import: AVERROR(...) and
// AVERROR_EOF are function-like macros, and sws_scale takes AVFrame's fixed-size plane arrays as pointers.
#ifndef SVGNET_CFFMPEG_SHIM_H
#define SVGNET_CFFMPEG_SHIM_H
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

static inline int svgnet_averror_eof(void) { return AVERROR_EOF; }
static inline int svgnet_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int svgnet_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }

/// Scales all of `frame` into one 8-bit plane (`destination`, rows `destinationStride` bytes apart).
/// Returns the number of rows written, or a negative AVERROR.
static inline int svgnet_scale_frame(struct SwsContext *context, const AVFrame *frame, uint8_t *destination,
                                     int destinationStride) {
    uint8_t *planes[4] = { destination, NULL, NULL, NULL };
    int strides[4] = { destinationStride, 0, 0, 0 };
    return sws_scale(context, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, planes, strides);
}

/// Copies one 8-bit plane into `frame`'s plane `plane`, row by row (the frame's rows may be padded); for the
/// tests' encoder, which writes the videos the decoder is checked on.
static inline void svgnet_copy_plane_into_frame(AVFrame *frame, int plane, const uint8_t *source, int width, int height) {
    for (int y = 0; y < height; y++) {
        uint8_t *row = frame->data[plane] + (ptrdiff_t)y * frame->linesize[plane];
        for (int x = 0; x < width; x++) row[x] = source[(ptrdiff_t)y * width + x];
    }
}
#endif
