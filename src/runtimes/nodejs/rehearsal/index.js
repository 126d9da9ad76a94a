// The no-op handler a pre-initialised Node runtime loads and invokes once before it has a function (see
// bootstrap.cjs's rehearsal): the same lookup and the same invocation code a function's handler goes through.
/* global exports */
'use strict';

exports.handler = async (event, context) => ({ event, requestId: context.awsRequestId });
