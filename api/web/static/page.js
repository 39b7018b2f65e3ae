/* Every page: after a form was sent, move the focus to the message that says what happened,
 * so that keyboard and screen-reader users hear it and sighted users see it. */
(function () {
  "use strict";
  const messages = document.getElementById("messages");
  if (messages) messages.focus();
})();
