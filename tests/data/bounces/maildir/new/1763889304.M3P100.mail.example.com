Return-Path: <>
Received: by mail.example.com (Postfix)
	id 5Jm3Mr1Aa2z9w; Mon, 23 Nov 2026 09:15:02 +0000 (UTC)
Date: Mon, 23 Nov 2026 09:15:02 +0000
From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: sam@example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4Hk2Lq0Zz1z9v.1763889302/mail.example.com"
Content-Transfer-Encoding: 8bit
Message-Id: <20261123091502.5Jm3Mr1Aa2z9w@mail.example.com>

This is a MIME-encapsulated message.

--4Hk2Lq0Zz1z9v.1763889302/mail.example.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<walt@example.net>: host mx.example.net[198.51.100.25] said: 554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; Error: open resolver; https://check.spamhaus.org/returnc/pub/198.51.100.53/ (in reply to RCPT TO
    command)

--4Hk2Lq0Zz1z9v.1763889302/mail.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.com
X-Postfix-Queue-ID: 4Hk2Lq0Zz1z9v
X-Postfix-Sender: rfc822; sam@example.com
Arrival-Date: Mon, 23 Nov 2026 09:14:58 +0000 (UTC)

Final-Recipient: rfc822; walt@example.net
Original-Recipient: rfc822;walt@example.net
Action: failed
Status: 5.7.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using
    zen.spamhaus.org; Error: open resolver;
    https://check.spamhaus.org/returnc/pub/198.51.100.53/

--4Hk2Lq0Zz1z9v.1763889302/mail.example.com
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Received: from client.example.com (client.example.com [192.0.2.10])
	by mail.example.com (Postfix) with ESMTPSA id 4Hk2Lq0Zz1z9v;
	Mon, 23 Nov 2026 09:14:58 +0000 (UTC)
From: Sam Sender <sam@example.com>
To: walt@example.net
Subject: Quarterly report
Message-ID: <20261123091458.4Hk2Lq0Zz1z9v@mail.example.com>
Date: Mon, 23 Nov 2026 09:14:57 +0000

--4Hk2Lq0Zz1z9v.1763889302/mail.example.com--
