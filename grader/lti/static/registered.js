// After LTI Dynamic Registration: tell the LMS that opened this page (in a frame or a
// window) that we are done, so that it closes the page and shows its own next step. The
// message carries nothing secret, and the LMS's frame origin is not known for sure (its
// administration pages may sit on another host than its configuration), so it goes to "*",
// as the specification's example does.
(function () {
  "use strict";
  var button = document.getElementById("lti-registered-close");
  if (!button) { return; }
  var lms = window.opener || (window.parent !== window ? window.parent : null);
  button.addEventListener("click", function () {
    if (lms) {
      lms.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
    } else {
      window.close();
    }
  });
})();
