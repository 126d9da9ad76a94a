// The no-op function a pre-initialised Node runtime loads and invokes a few times before it has a function of
// its own (see bootstrap.cjs's rehearsal): the same lookup and the same invocation code a function goes through.
/* global exports */
'use strict';

exports.handler = async (event, context) => ({ event, requestId: context.awsRequestId });
